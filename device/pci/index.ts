// PCI/PCIe function model: config space, capabilities, BARs, MSI/MSI-X (re-exports).

export * from './config-space.js';
export * from './msix.js';
export * from './function.js';
