// The end-of-run report of a served NIC: the link line.
import { describe, it, expect } from 'vitest';
import { linkLine } from '../../qemu/boot.js';

describe('the link line', () => {
  it('says a link down after a clean power-off is how the run ended, not a failure', () => {
    expect(linkLine({ up: false, ups: 2, end: { kind: 'poweroff' } })).toBe('link: up 2 time(s) during the run; the guest powered off (link down at exit)');
    expect(linkLine({ up: true, ups: 1, end: { kind: 'poweroff' } })).toBe('link: up 1 time(s) during the run; still up when the guest powered off');
  });

  it('reads as a failure when the link is down while the guest runs, or never came up', () => {
    expect(linkLine({ up: false, ups: 2, end: { kind: 'stopped', how: 'was stopped at the 300 s timeout' } }))
      .toBe('link: DOWN while the guest was running (it had come up 2 time(s)); the guest was stopped at the 300 s timeout');
    expect(linkLine({ up: false, ups: 0, end: { kind: 'poweroff' } })).toBe('link: DOWN, never came up before the guest powered off');
    expect(linkLine({ up: false, ups: 0, end: { kind: 'stopped', how: 'ended without finishing its script' } })).toBe('link: DOWN, never came up (the guest ended without finishing its script)');
    expect(linkLine({ up: false, ups: 1, client: 'connected' })).toBe('link now: DOWN while the client is connected (came up 1 time(s) during the run)');
    expect(linkLine({ up: false, ups: 0, client: 'connected' })).toBe('link now: DOWN, never came up');
  });

  it('keeps the up state plain, and says what it was when the client left (serve)', () => {
    expect(linkLine({ up: true, ups: 1, end: { kind: 'stopped', how: 'was stopped (QEMU exited with SIGTERM)' } }))
      .toBe('link: up, 1000 Mb/s full duplex when the guest was stopped (QEMU exited with SIGTERM) (came up 1 time(s) during the run)');
    expect(linkLine({ up: true, ups: 3, client: 'connected' })).toBe('link now: up, 1000 Mb/s full duplex (came up 3 time(s) during the run)');
    expect(linkLine({ up: false, ups: 2, client: 'left' })).toBe('link: up 2 time(s) during the run; down when the client disconnected');
    expect(linkLine({ up: false, ups: 0, client: 'never' })).toBe('link: down, no client has connected');
    expect(linkLine({ up: true, ups: 1, client: 'never' })).toBe('link now: up, 1000 Mb/s full duplex, no client has connected');
  });
});
