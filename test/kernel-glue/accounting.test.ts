import { describe, expect, it } from 'vitest';
import {
  accountingLeaks,
  alloc_etherdev,
  del_timer_sync,
  dev_kfree_skb_any,
  dev_open,
  dma_alloc_coherent,
  dma_free_coherent,
  dma_map_single,
  dma_mapping_error,
  dma_unmap_single,
  DMA_BIT_MASK,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  dma_set_mask_and_coherent,
  free_irq,
  free_netdev,
  INIT_WORK,
  ioremap,
  iounmap,
  IRQ_HANDLED,
  IORESOURCE_MEM,
  jiffies,
  mod_timer,
  napi_disable,
  napi_enable,
  NapiStruct,
  netdev_alloc_skb_ip_align,
  netif_napi_add,
  pci_disable_device,
  pci_disable_msix,
  pci_enable_device_mem,
  pci_enable_msix_range,
  pci_get_drvdata,
  pci_register_driver,
  pci_release_selected_regions,
  pci_request_selected_regions,
  pci_resource_len,
  pci_resource_start,
  pci_select_bars,
  pci_set_drvdata,
  pci_set_master,
  pci_unregister_driver,
  register_netdev,
  request_irq,
  schedule_work,
  cancel_work_sync,
  SET_NETDEV_DEV,
  timer_setup,
  TimerList,
  unregister_netdev,
  WorkStruct,
  type DmaCoherent,
  type IoMem,
  type MsixEntry,
  type NetDevice,
  type PciDev,
  type SkBuff,
} from '../../kernel-glue/index.js';
import { FakePci, makeKernel } from './fake-pci.js';

interface Adapter {
  pdev: PciDev;
  netdev: NetDevice<Adapter> | null;
  hw: IoMem | null;
  ring: DmaCoherent | null;
  bufs: { skb: SkBuff; dma: number }[];
  entries: MsixEntry[];
  napi: NapiStruct;
  watchdog: TimerList;
  resetTask: WorkStruct;
  bars: number;
}

/** A miniature driver shaped like e1000e's probe/open/stop/remove. */
function miniDriver(opts: { leakSkb?: boolean } = {}) {
  return {
    name: 'mini',
    id_table: [{ vendor: 0x8086, device: 0x10d3 }],
    probe(pdev: PciDev): number {
      const k = pdev.kernel;
      let rc = pci_enable_device_mem(pdev);
      if (rc) return rc;
      rc = dma_set_mask_and_coherent(pdev, DMA_BIT_MASK(64));
      const bars = pci_select_bars(pdev, IORESOURCE_MEM);
      pci_request_selected_regions(pdev, bars, 'mini');
      pci_set_master(pdev);
      const a: Adapter = {
        pdev,
        netdev: null,
        hw: ioremap(k, pci_resource_start(pdev, 0), pci_resource_len(pdev, 0)),
        ring: null,
        bufs: [],
        entries: [0, 1, 2].map((entry) => ({ entry, vector: 0 })),
        napi: new NapiStruct(),
        watchdog: new TimerList(),
        resetTask: new WorkStruct(),
        bars,
      };
      const netdev = alloc_etherdev(k, a);
      a.netdev = netdev;
      SET_NETDEV_DEV(netdev, pdev);
      netdev.netdev_ops = {
        ndo_open(dev) {
          const ad = dev.priv as Adapter;
          ad.ring = dma_alloc_coherent(pdev, 4096)!;
          for (let i = 0; i < 8; i++) {
            const skb = netdev_alloc_skb_ip_align(dev, 2048)!;
            const dma = dma_map_single(pdev, skb.dataPhys(), 2048, DMA_FROM_DEVICE);
            if (dma_mapping_error(pdev, dma)) return -12;
            ad.bufs.push({ skb, dma });
          }
          if (pci_enable_msix_range(pdev, ad.entries, 3, 3) < 0) return -5;
          for (const e of ad.entries) request_irq(k, e.vector, () => IRQ_HANDLED, 0, `${dev.name}-${e.entry}`, ad);
          napi_enable(ad.napi);
          mod_timer(ad.watchdog, jiffies(k) + 2000);
          return 0;
        },
        ndo_stop(dev) {
          const ad = dev.priv as Adapter;
          napi_disable(ad.napi);
          del_timer_sync(ad.watchdog);
          cancel_work_sync(ad.resetTask);
          for (const e of ad.entries) free_irq(k, e.vector, ad);
          pci_disable_msix(pdev);
          const keep = opts.leakSkb ? 1 : 0;
          for (const b of ad.bufs.splice(keep)) {
            dma_unmap_single(pdev, b.dma, 2048, DMA_FROM_DEVICE);
            dev_kfree_skb_any(b.skb);
          }
          dma_free_coherent(pdev, 4096, ad.ring!.cpu, ad.ring!.dma);
          return 0;
        },
        ndo_start_xmit(skb) {
          const dma = dma_map_single(pdev, skb.dataPhys(), skb.len, DMA_TO_DEVICE);
          dma_unmap_single(pdev, dma, skb.len, DMA_TO_DEVICE);
          dev_kfree_skb_any(skb);
          return 0;
        },
      };
      netif_napi_add(netdev, a.napi, () => 0);
      timer_setup(k, a.watchdog, () => schedule_work(a.resetTask), 0);
      INIT_WORK(k, a.resetTask, () => {});
      pci_set_drvdata(pdev, a);
      return register_netdev(netdev);
    },
    remove(pdev: PciDev): void {
      const a = pci_get_drvdata<Adapter>(pdev);
      unregister_netdev(a.netdev!);
      iounmap(a.hw!);
      pci_release_selected_regions(pdev, a.bars);
      free_netdev(a.netdev!);
      pci_disable_device(pdev);
    },
  };
}

describe('accounting', () => {
  it('attributes resources to the device and returns to zero after remove', () => {
    const { q, k } = makeKernel();
    const d1 = k.pciBus.attach(1, new FakePci());
    const d2 = k.pciBus.attach(2, new FakePci());
    const drv = miniDriver();
    pci_register_driver(k, drv);
    const a1 = pci_get_drvdata<Adapter>(d1);
    expect(dev_open(a1.netdev!)).toBe(0);
    q.advance(1e6);
    const acc = k.accounting(d1);
    expect(acc).toMatchObject({
      irqsRequested: 3,
      msixEnabled: 3,
      dmaCoherent: { count: 1, bytes: 4096 },
      dmaMapped: 8,
      ioremaps: 1,
      regions: 2,
      skbsLive: 8,
      timersPending: 1,
      napis: 1,
      pciEnabled: 1,
      busMaster: 1,
    });
    // The other NIC holds only what its probe took.
    expect(k.accounting(d2)).toMatchObject({ irqsRequested: 0, skbsLive: 0, napis: 1, ioremaps: 1, regions: 2 });
    q.advance(3e9); // watchdog fired and queued the work, which ran
    expect(a1.resetTask.runs).toBe(1);
    pci_unregister_driver(k, drv);
    expect(accountingLeaks(k.accounting(d1))).toEqual([]);
    expect(accountingLeaks(k.accounting(d2))).toEqual([]);
    expect(accountingLeaks(k.accounting())).toEqual([]);
  });

  it('reports what a sloppy driver leaked', () => {
    const { k } = makeKernel();
    const d = k.pciBus.attach(1, new FakePci());
    const drv = miniDriver({ leakSkb: true });
    pci_register_driver(k, drv);
    dev_open(pci_get_drvdata<Adapter>(d).netdev!);
    pci_unregister_driver(k, drv);
    expect(accountingLeaks(k.accounting(d))).toEqual(['dmaMapped=1', 'skbsLive=1']);
  });

  it('DMA API misuse throws', () => {
    const { k } = makeKernel();
    const d = k.pciBus.attach(1, new FakePci());
    expect(() => dma_map_single(d, 0x10, 64, DMA_TO_DEVICE)).toThrow(/not RAM/);
    expect(() => dma_unmap_single(d, 0x200000, 64, DMA_TO_DEVICE)).toThrow(/not mapped/);
    const c = dma_alloc_coherent(d, 1000)!;
    expect(c.dma % 64).toBe(0);
    expect(Array.from(c.cpu.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    dma_free_coherent(d, 1000, c.cpu, c.dma);
    expect(() => dma_free_coherent(d, 1000, c.cpu, c.dma)).toThrow(/double free/);
    k.faults.dmaMap = 1;
    const skbPhys = k.ram.base + 0x1000;
    expect(dma_mapping_error(d, dma_map_single(d, skbPhys, 64, DMA_TO_DEVICE))).not.toBe(0);
  });
});
