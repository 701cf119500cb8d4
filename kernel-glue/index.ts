// kernel-glue: a Linux-shaped kernel API (PCI, DMA, IRQ, NAPI, net_device, sk_buff, timers, work) over simulated RAM and a simulated PCI bus.
//
// Calling convention
// ------------------
// Linux names are used verbatim (snake_case) with Linux's argument order. There can be several
// kernels in one process, so every function reaches its Kernel through its arguments:
//   * when Linux's first argument is an object that belongs to a kernel (a PciDev, NetDevice,
//     NapiStruct, SkBuff, IoMem, TimerList or WorkStruct once set up), the signature is
//     exactly Linux's and the kernel is found through that object
//     (pdev.kernel, dev.kernel, napi.kernel, skb.kernel, io.kernel, timer.kernel, work.kernel);
//   * when Linux has no such argument (request_irq, free_irq, ioremap, alloc_skb, kmalloc,
//     msleep/udelay, jiffies, pci_register_driver, alloc_etherdev, timer_setup, INIT_WORK),
//     the Kernel is inserted as the FIRST argument:
//       request_irq(kernel, irq, handler, flags, name, devId)
//       timer_setup(kernel, timer, fn, flags); mod_timer(timer, jiffies(kernel) + HZ)
//   * values Linux returns through pointers are returned instead
//     (pci_read_config_word(pdev, where) -> number).
// Misuse that Linux would BUG/WARN on (double free, freeing an unrequested irq, a NAPI poll
// exceeding its budget, sleeping in atomic context) throws an Error naming the bug.
// Resources are attributed to the PCI device on whose behalf the kernel called the driver
// (probe/remove, ndo_*, irq handlers, NAPI polls, timers and work set up by it); see
// `kernel.accounting(pdev)`.

export * from './accounting.js';
export * from './checksum.js';
export * from './clock.js';
export * from './delay.js';
export * from './dma.js';
export * from './errno.js';
export * from './etherdevice.js';
export * from './irq.js';
export * from './kernel.js';
export * from './napi.js';
export * from './netdev.js';
export * from './pci.js';
export * from './ram.js';
export * from './ring.js';
export * from './skbuff.js';
export * from './slab.js';
export * from './softirq.js';
export * from './timer.js';
export * from './workqueue.js';
