// boot --mtu on the host side: which backends take an MTU and how, and the range boot accepts.
import { describe, it, expect } from 'vitest';
import { backendSpecWithMtu, boot, MTU_MIN, MTU_MAX } from '../../qemu/boot.js';
import { INIT_SCRIPT } from '../../qemu/guest/init-script.js';

describe('the MTU on the backend', () => {
  it('is passed to passt as its --mtu, after any passt arguments of the spec', () => {
    expect(backendSpecWithMtu('passt', 9000)).toBe('passt:--mtu,9000');
    expect(backendSpecWithMtu('passt:--no-udp', 9000)).toBe('passt:--no-udp,--mtu,9000');
  });

  it('leaves a passt spec that sets its own MTU, and every other backend, as they are', () => {
    for (const s of ['passt:--mtu,1500', 'passt:-m,1500', 'passt:--mtu=1500', 'passt:-m1500']) expect(backendSpecWithMtu(s, 9000)).toBe(s);
    for (const s of ['netns', 'netns:10.9.0.1/24', 'tap:nic0', 'stream-connect:unix:/tmp/p.sock', 'dgram:127.0.0.1:5000:127.0.0.1:5001', 'none', 'loopback']) {
      expect(backendSpecWithMtu(s, 9000)).toBe(s);
    }
    expect(backendSpecWithMtu('passt', undefined)).toBe('passt');
  });
});

describe('boot with an MTU', () => {
  it('refuses one outside 68..9212 before provisioning anything', async () => {
    expect([MTU_MIN, MTU_MAX]).toEqual([68, 9212]);
    for (const mtu of [67, 9213, 1500.5]) {
      await expect(boot({ mtu, cacheDir: '/nonexistent/nicsim-cache', log: () => {} })).rejects.toThrow(/^mtu: 68\.\.9212 \(the e1000e driver's range on an 82574L\), not /);
    }
  });

  it('has the guest set it from the kernel command line before the interface goes up', () => {
    const i = INIT_SCRIPT.indexOf('ip link set "$ifname" mtu "$mtu"');
    expect(INIT_SCRIPT).toContain('nicsim.mtu=*) mtu=${w#*=} ;;');
    expect(i).toBeGreaterThan(0);
    expect(i).toBeLessThan(INIT_SCRIPT.indexOf('ip link set "$ifname" up'));
  });
});
