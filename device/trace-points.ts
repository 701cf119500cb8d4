// The catalog of trace points (`area_event`): what `--trace PATTERNS` can switch on, and what each record carries.

/** One trace point: its name, and what a record of it says. */
export interface TracePointInfo {
  readonly name: string;
  readonly what: string;
}

/** Every trace point the device, the server, the kernel layer and the wires emit (a test keeps this complete). */
export const TRACE_POINTS: readonly TracePointInfo[] = [
  // device: registers (datasheet names), NVM, PHY
  { name: 'e1000e_reg_read', what: 'BAR 0 register read: reg (datasheet name), value' },
  { name: 'e1000e_reg_write', what: 'BAR 0 register write: reg (datasheet name), value' },
  { name: 'e1000e_reg_ro_write', what: 'write to a read-only register (ignored)' },
  { name: 'e1000e_reg_wo_read', what: 'read of a write-only register (reads 0)' },
  { name: 'e1000e_reg_unknown_read', what: 'read of an offset no register lives at' },
  { name: 'e1000e_reg_unknown_write', what: 'write to an offset no register lives at' },
  { name: 'e1000e_mmio_bad_access', what: 'BAR 0 access of a size or alignment the device does not decode' },
  { name: 'e1000e_io_bad_access', what: 'bad access to the I/O BAR (IOADDR/IODATA)' },
  { name: 'e1000e_bar_unmapped_read', what: 'read of a BAR offset past the register file' },
  { name: 'e1000e_bar_unmapped_write', what: 'write to a BAR offset past the register file' },
  { name: 'e1000e_mdic_read', what: 'PHY register read through MDIC: phy, reg, value' },
  { name: 'e1000e_mdic_write', what: 'PHY register write through MDIC: phy, reg, value' },
  { name: 'e1000e_mdic_bad_phy', what: 'MDIC access to a PHY address other than 1 (sets MDIC.E)' },
  { name: 'e1000e_nvm_bad_address', what: 'EERD read past the NVM' },
  { name: 'e1000e_link', what: 'link up or down as the MAC sees it: up, speed' },
  { name: 'e1000e_reset', what: 'device reset: kind (power-on, CTRL.RST, FLR...)' },
  { name: 'e1000e_reentrant_access', what: 'the device\'s own DMA reached its BAR (dropped, as QEMU\'s re-entrancy guard does)' },
  // device: DMA
  { name: 'e1000e_dma_read', what: 'DMA read of guest memory: addr, length, ok' },
  { name: 'e1000e_dma_write', what: 'DMA write to guest memory: addr, length, ok' },
  { name: 'e1000e_dma_blocked', what: 'DMA attempted with bus mastering off (dropped)' },
  // device: transmit
  { name: 'e1000e_tx_desc', what: 'TX descriptor fetched: index, addr, kind (legacy/context/data), buffer, length, cmd' },
  { name: 'e1000e_tx_context', what: 'TX context descriptor: offload offsets, MSS, header length' },
  { name: 'e1000e_tx_frame', what: 'frame sent to the wire: length, offloads applied' },
  { name: 'e1000e_tx_bad_tail', what: 'TDT written beyond the ring' },
  { name: 'e1000e_tx_bad_descriptor', what: 'malformed TX descriptor (dropped)' },
  { name: 'e1000e_tx_bad_context', what: 'offload asked with an impossible context' },
  { name: 'e1000e_tx_dma_fault', what: 'TX descriptor, buffer or write-back outside guest memory' },
  { name: 'e1000e_tx_oversize', what: 'frame longer than the device sends (dropped)' },
  { name: 'e1000e_tx_runt', what: 'frame too short to send (dropped)' },
  { name: 'e1000e_tx_link_down_drop', what: 'frame dropped because the link is down' },
  // device: receive
  { name: 'e1000e_rx_desc', what: 'RX descriptor written back: index, addr, buffer, length, status, eop' },
  { name: 'e1000e_rx_frame', what: 'frame delivered into the ring: length, vlan, descriptors' },
  { name: 'e1000e_rx_filtered', what: 'frame not accepted by the address filters' },
  { name: 'e1000e_rx_vlan_filtered', what: 'frame dropped by the VLAN filter table' },
  { name: 'e1000e_rx_overrun', what: 'no free descriptors: frame missed (MPC)' },
  { name: 'e1000e_rx_ingress_drop', what: 'frame dropped at the modeled packet buffer (arrivals faster than line rate)' },
  { name: 'e1000e_rx_oversize', what: 'frame longer than RCTL.LPE allows (ROC, RLEC)' },
  { name: 'e1000e_rx_runt', what: 'frame shorter than 60 bytes (RUC)' },
  { name: 'e1000e_rx_disabled', what: 'frame arrived with RCTL.EN clear' },
  { name: 'e1000e_rx_bad_tail', what: 'RDT written beyond the ring' },
  { name: 'e1000e_rx_dma_fault', what: 'RX descriptor, buffer or write-back outside guest memory' },
  { name: 'e1000e_loopback_frame', what: 'a transmitted frame turned back to the receiver (PHY or MAC loopback): length, kind' },
  { name: 'e1000e_rx_loopback_ignored', what: 'a frame from the wire while in PHY or MAC loopback (not heard)' },
  { name: 'e1000e_rx_bad_head', what: 'packet split with RDH in the middle of a 32-byte descriptor' },
  { name: 'e1000e_rx_reserved_dtyp', what: 'RCTL.DTYP set to a reserved value (bit 10 decides packet split)' },
  { name: 'e1000e_rx_unplaceable', what: 'frame larger than the whole ring or with every buffer size 0 (dropped, RLEC)' },
  { name: 'e1000e_rx_overrun_blocked', what: 'a receive write clamped to its buffer size (a model bug; fuzz oracle)' },
  // device: interrupts
  { name: 'e1000e_irq_raise', what: 'interrupt causes raised: cause, ICR, IMS (datasheet bit names)' },
  { name: 'e1000e_irq_msix', what: 'MSI-X message sent: vector, causes IVAR routes to it, EITR' },
  { name: 'e1000e_irq_msi', what: 'MSI message sent' },
  { name: 'e1000e_irq_stale', what: 'a throttled message whose interrupt mode has gone (dropped)' },
  { name: 'e1000e_irq_bad_vector', what: 'IVAR names MSI-X vector 5-7, which the 82574L lacks' },
  { name: 'e1000e_irq_ivar_invalid', what: 'a cause whose IVAR entry is not valid (no message)' },
  // PCI function
  { name: 'pci_config_read', what: 'config space read: offset, size, value' },
  { name: 'pci_config_write', what: 'config space write: offset, size, value' },
  { name: 'pci_config_ro_write', what: 'write to read-only config bits (ignored)' },
  { name: 'pci_config_bad_access', what: 'config access out of range or misaligned' },
  { name: 'pci_intx', what: 'INTx level change' },
  { name: 'pci_msi_deliver', what: 'MSI message: address, data' },
  { name: 'pci_msi_pending', what: 'MSI masked: pending bit set' },
  { name: 'pci_msi_dropped', what: 'MSI with MSI disabled or bus mastering off' },
  { name: 'pci_msix_deliver', what: 'MSI-X message: vector, address, data' },
  { name: 'pci_msix_pending', what: 'MSI-X vector masked: PBA bit set' },
  { name: 'pci_msix_dropped', what: 'MSI-X message with MSI-X disabled or bus mastering off' },
  { name: 'pci_msix_bar_ignored', what: 'MSI-X table/PBA access the function ignores' },
  { name: 'pci_pm_state', what: 'power state change (D0/D3hot)' },
  { name: 'pci_reset', what: 'function-level or bus reset' },
  // vfio-user server
  { name: 'vfu_version', what: 'VERSION negotiated: client version and capabilities' },
  { name: 'vfu_client_connected', what: 'a client connected' },
  { name: 'vfu_client_refused', what: 'a second client refused while one is connected' },
  { name: 'vfu_connection_closed', what: 'the connection closed: reason' },
  { name: 'vfu_disconnect', what: 'the server dropped the client: reason' },
  { name: 'vfu_device_reset', what: 'device reset on a client\'s request or disconnect' },
  { name: 'vfu_dma_map', what: 'DMA region mapped: iova, size, flags' },
  { name: 'vfu_dma_map_refused', what: 'DMA map refused: reason' },
  { name: 'vfu_dma_unmap', what: 'DMA region unmapped' },
  { name: 'vfu_set_irqs', what: 'SET_IRQS: index, start, count, action' },
  { name: 'vfu_set_irqs_refused', what: 'SET_IRQS refused: reason' },
  { name: 'vfu_irq_dropped', what: 'an interrupt with no eventfd wired (dropped)' },
  { name: 'vfu_error', what: 'a command answered with an errno' },
  { name: 'vfu_internal_error', what: 'a bug of ours caught while handling a command (EIO)' },
  { name: 'vfu_unexpected_reply', what: 'a reply the server never asked for' },
  // in-process kernel layer
  { name: 'pci_probe', what: 'a driver bound to a device' },
  { name: 'pci_mmio_unclaimed', what: 'MMIO to an address no BAR decodes' },
  { name: 'kernel_printk', what: 'a kernel log line' },
  { name: 'kernel_irq_spurious', what: 'an interrupt with no handler' },
  { name: 'kernel_irq_storm', what: 'a level interrupt re-fired too often' },
  { name: 'kernel_irq_nobody_cared', what: 'a line disabled by the spurious-interrupt detector' },
  { name: 'kernel_msi_stray', what: 'an MSI to an address no vector owns' },
  { name: 'net_carrier', what: 'netif carrier on/off' },
  { name: 'net_tx_timeout', what: 'the netdev watchdog found a stopped queue' },
  // wires and socket backends
  { name: 'wire_stream_connected', what: 'stream peer connected' },
  { name: 'wire_stream_disconnected', what: 'stream peer gone' },
  { name: 'wire_stream_connect_failed', what: 'stream connect failed (retried if reconnect is set)' },
  { name: 'wire_stream_reject', what: 'a stream peer refused: too many already waiting behind the connected one' },
  { name: 'wire_stream_bad_length', what: 'stream frame length 0 or too large: connection dropped' },
  { name: 'wire_stream_runt', what: 'stream frame too short for an Ethernet header' },
  { name: 'wire_socket_tx_drop', what: 'frame not sent: no peer, send buffer over its high-water mark, bad size or send error' },
  { name: 'wire_socket_error', what: 'socket error' },
  { name: 'wire_dgram_bad_size', what: 'datagram too short or too long for a frame' },
  { name: 'wire_dgram_own_echo', what: 'our own multicast datagram looped back (ignored)' },
];

/** The points whose names match a `--trace` pattern list. */
export function tracePointsMatching(match: (name: string) => boolean): TracePointInfo[] {
  return TRACE_POINTS.filter((p) => match(p.name));
}
