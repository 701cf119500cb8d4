// 82574L NVM (EEPROM) image and the EERD read interface (datasheet §6.1, §10.2.2.3).

import { NVM_WORDS, NVM_CHECKSUM_REG, NVM_SUM, PCI_DEVICE_82574L, PCI_VENDOR_INTEL } from './defs.js';

/** Builds the 64-word NVM image for a MAC address, with word 0x3F making the 16-bit sum 0xBABA. */
export function buildNvmImage(mac: Uint8Array): Uint16Array {
  if (mac.length !== 6) throw new Error('MAC must be 6 bytes');
  const w = new Uint16Array(NVM_WORDS);
  w[0] = mac[0]! | (mac[1]! << 8);
  w[1] = mac[2]! | (mac[3]! << 8);
  w[2] = mac[4]! | (mac[5]! << 8);
  w[0x03] = 0x0420; // compatibility
  w[0x04] = 0xf746; // LED configuration: the driver's "default" marker
  w[0x05] = 0x1080; // image version 1.8.0
  w[0x08] = 0x2000; // PBA number
  w[0x09] = 0xffff;
  w[0x0a] = 0x64c2; // initialization control 1
  w[0x0b] = PCI_DEVICE_82574L; // subsystem ID
  w[0x0c] = PCI_VENDOR_INTEL; // subsystem vendor
  w[0x0d] = PCI_DEVICE_82574L;
  w[0x0e] = PCI_VENDOR_INTEL;
  w[0x0f] = 0x8058; // initialization control 2: bits 14:13 clear (no APM PME, no jumbo restriction)
  w[0x10] = 0x0000;
  w[0x1a] = 0x0003;
  w[0x1e] = 0x05c4;
  w[0x24] = 0x0b00; // init control 3: WoL off (bit 10 clear), APM disabled
  w[0x2f] = 0x0602;
  let sum = 0;
  for (let i = 0; i < NVM_CHECKSUM_REG; i++) sum = (sum + w[i]!) & 0xffff;
  w[NVM_CHECKSUM_REG] = (NVM_SUM - sum) & 0xffff;
  return w;
}

/** MAC address bytes from NVM words 0-2. */
export function nvmMac(w: Uint16Array): Uint8Array {
  const m = new Uint8Array(6);
  for (let i = 0; i < 3; i++) {
    m[2 * i] = w[i]! & 0xff;
    m[2 * i + 1] = w[i]! >>> 8;
  }
  return m;
}
