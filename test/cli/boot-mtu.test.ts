// nicsim boot --mtu: the range it takes, refused before anything is provisioned or booted, and what its help says.
import { describe, it, expect } from 'vitest';
import { CommanderError } from 'commander';
import { buildProgram } from '../../cli/main.js';

/** Parses `nicsim boot ARGS` with the errors and help captured instead of exiting. */
async function parseBoot(args: string[]): Promise<{ error: CommanderError | null; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  const program = buildProgram(() => {});
  for (const c of [program, ...program.commands]) {
    c.exitOverride().configureOutput({ writeErr: (s) => (stderr += s), writeOut: (s) => (stdout += s) });
  }
  try {
    await program.parseAsync(['node', 'nicsim', 'boot', ...args]);
    return { error: null, stderr, stdout };
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    return { error: e, stderr, stdout };
  }
}

describe('nicsim boot --mtu', () => {
  it('refuses an MTU outside 68..9212, or not a number, saying why', async () => {
    for (const v of ['67', '9213', '0', '1500.5', 'jumbo', '-1']) {
      const r = await parseBoot(['--mtu', v]);
      expect(r.error?.code, v).toBe('commander.invalidArgument');
      expect(r.stderr).toContain(`option '--mtu <n>' argument '${v}' is invalid`);
      expect(r.stderr).toContain('68..9212');
      expect(r.stderr).toMatch(/IPv4's minimum.*e1000e/);
    }
  });

  it('says in --help what it sets in the guest and on each kind of backend', async () => {
    const r = await parseBoot(['--help']);
    expect(r.error?.code).toBe('commander.helpDisplayed');
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--mtu <n>');
    expect(help).toMatch(/MTU of the guest's eth0, 68\.\.9212/);
    expect(help).toMatch(/netns: the TAP's host side too/);
    expect(help).toMatch(/passt: passed as passt --mtu/);
    expect(help).toMatch(/stream\/dgram sockets carry frames up to 69632 bytes/);
  });
});
