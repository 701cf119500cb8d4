// The in-process testbed: device models on a simulated PCI bus under kernel-glue, joined by wires, in virtual time.

import { EventQueue } from '../device/sim/event-queue.js';
import type { DeviceHost, EventHandle, GsoRequest } from '../device/host.js';
import { NULL_TRACE, type TraceSink } from '../device/trace.js';
import type { GuestAddr } from '../device/types.js';
import { E1000eDevice } from '../device/e1000e/device.js';
import type { TimingParams } from '../device/sim/timing.js';
import type { PartnerPause } from '../device/e1000e/phy.js';
import { Kernel } from '../kernel-glue/kernel.js';
import type { PciDev, PciDeviceBackend, PciDriver } from '../kernel-glue/pci.js';
import type { NetDevice } from '../kernel-glue/netdev.js';
import { e1000e_init_module, e1000e_exit_module, type E1000eParams } from '../driver/netdev.js';
import type { WireEndpoint, WirePort, LinkWire } from '../wire/wire.js';

/**
 * The DeviceHost of a device that sits on a machine's simulated PCI bus: DMA goes to that
 * machine's RAM (bounds-checked there), interrupts become MSI writes or INTx levels on its bus.
 */
export class BusHost implements DeviceHost {
  pdev: PciDev | null = null;
  port: WirePort | null = null;
  /** Frames the device put on a wire that was not plugged. */
  unplugDrops = 0;

  constructor(
    private readonly kernel: Kernel,
    private readonly queue: EventQueue,
    readonly trace: TraceSink,
  ) {}

  dmaRead(addr: GuestAddr, dst: Uint8Array): boolean {
    return this.kernel.ram.read(addr, dst);
  }
  dmaWrite(addr: GuestAddr, src: Uint8Array): boolean {
    return this.kernel.ram.write(addr, src);
  }
  signalMsix(_vector: number, addr: GuestAddr, data: number): void {
    this.kernel.msiWrite(addr, data);
  }
  signalMsi(_vector: number, addr: GuestAddr, data: number): void {
    this.kernel.msiWrite(addr, data);
  }
  setIntx(asserted: boolean): void {
    if (this.pdev) this.kernel.pciBus.setIntx(this.pdev, asserted);
  }
  sendFrame(frame: Uint8Array): void {
    if (this.port) this.port.send(frame);
    else this.unplugDrops++;
  }
  /** GSO where the wire takes it (a wire made with `gso`). */
  gsoReady(): boolean {
    return this.port?.sendGso !== undefined;
  }
  sendGso(packet: Uint8Array, gso: GsoRequest): void {
    this.port?.sendGso?.(packet, gso);
  }
  now(): number {
    return this.queue.now();
  }
  schedule(delayNs: number, cb: () => void, priority?: number): EventHandle {
    return this.queue.schedule(delayNs, cb, priority);
  }
  cancel(h: EventHandle): void {
    this.queue.cancel(h);
  }
}

/** One 82574L in a machine's PCI slot. */
export class SimNic implements WireEndpoint {
  port: WirePort | null = null;

  constructor(
    readonly machine: Machine,
    readonly device: E1000eDevice,
    readonly pdev: PciDev,
    private readonly host: BusHost,
  ) {}

  receiveFrame(frame: Uint8Array): void {
    this.device.receiveFrame(frame);
  }
  setCarrier(present: boolean): void {
    this.device.setCarrier(present);
  }

  /** Plugs this NIC into one side of a wire. */
  plug(wire: LinkWire, side: 0 | 1): void {
    this.port = wire.attach(side, this);
    this.host.port = this.port;
  }

  /** Plugs this NIC into anything that hands out ports (a switch, a backend). */
  connect(to: { attach(ep: WireEndpoint): WirePort }): void {
    this.port = to.attach(this);
    this.host.port = this.port;
  }

  unplug(): void {
    this.port?.detach();
    this.port = null;
    this.host.port = null;
  }

  /** The net_device the driver registered for this NIC, once probed. */
  get netdev(): NetDevice<unknown> {
    const nd = this.pdev.driverData as NetDevice<unknown> | null;
    if (!nd) throw new Error(`${this.device.name}: no driver bound`);
    return nd;
  }
}

/** Options of a machine: its RAM and what traces it. */
export interface MachineOptions {
  name?: string;
  ramBytes?: number;
  trace?: TraceSink;
}

/** One simulated computer: a kernel with its RAM and PCI bus. */
export class Machine {
  readonly kernel: Kernel;
  readonly nics: SimNic[] = [];
  readonly name: string;
  private drivers: PciDriver[] = [];

  constructor(
    readonly testbed: Testbed,
    opts: MachineOptions = {},
  ) {
    this.name = opts.name ?? `m${testbed.machines.length}`;
    this.kernel = new Kernel({ clock: testbed.queue, ramBytes: opts.ramBytes ?? 64 << 20, trace: opts.trace ?? testbed.trace });
  }

  /** Puts an 82574L in the next free slot. */
  addNic(opts: { mac: Uint8Array; name?: string; slot?: number; timing?: Partial<TimingParams>; partnerPause?: PartnerPause }): SimNic {
    const host = new BusHost(this.kernel, this.testbed.queue, this.testbed.trace);
    const name = opts.name ?? `${this.name}.nic${this.nics.length}`;
    const dev = E1000eDevice.create(host, { mac: opts.mac, name, timing: opts.timing, partnerPause: opts.partnerPause });
    const backend: PciDeviceBackend = {
      configRead: (o, s) => dev.configRead(o, s),
      configWrite: (o, s, v) => dev.configWrite(o, s, v),
      barRead: (b, o, s) => dev.barRead(b, o, s),
      barWrite: (b, o, s, v) => dev.barWrite(b, o, s, v),
      memoryEnabled: () => dev.pci.memoryEnabled,
    };
    const pdev = this.kernel.pciBus.attach(opts.slot ?? 3 + this.nics.length, backend);
    host.pdev = pdev;
    const nic = new SimNic(this, dev, pdev, host);
    this.nics.push(nic);
    return nic;
  }

  /** insmod e1000e: registers our driver, probing every 82574L on the bus. */
  loadDriver(params: Partial<E1000eParams> = {}): PciDriver {
    const drv = e1000e_init_module(this.kernel, params);
    this.drivers.push(drv);
    return drv;
  }

  /** rmmod e1000e */
  unloadDriver(drv: PciDriver = this.drivers[this.drivers.length - 1]!): void {
    e1000e_exit_module(this.kernel, drv);
    this.drivers = this.drivers.filter((d) => d !== drv);
  }
}

/** Several machines sharing one virtual clock. */
export class Testbed {
  readonly queue = new EventQueue();
  readonly machines: Machine[] = [];

  constructor(readonly trace: TraceSink = NULL_TRACE) {}

  addMachine(opts: MachineOptions = {}): Machine {
    const m = new Machine(this, opts);
    this.machines.push(m);
    return m;
  }

  now(): number {
    return this.queue.now();
  }

  /** Runs virtual time forward by `ns`, with a bound on events so a livelock cannot hang a test. */
  advance(ns: number, maxEvents = 50_000_000): number {
    const n = this.queue.advance(ns, maxEvents);
    if (n >= maxEvents) throw new Error(`event bound of ${maxEvents} reached at t=${this.queue.now()} ns`);
    return n;
  }

  /** Runs until `cond` holds, checking after every event; returns false on timeout (virtual ns). */
  runUntil(cond: () => boolean, timeoutNs: number, maxEvents = 50_000_000): boolean {
    const deadline = this.queue.now() + timeoutNs;
    let n = 0;
    while (!cond()) {
      const t = this.queue.peekTime();
      if (t === undefined || t > deadline || n++ >= maxEvents) {
        if (t === undefined || t > deadline) this.queue.run(deadline);
        return cond();
      }
      this.queue.step();
    }
    return true;
  }
}
