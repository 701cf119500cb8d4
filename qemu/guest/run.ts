/** Running helper processes with their output turned into log lines. */
import { spawn } from 'node:child_process';

export type Log = (line: string) => void;

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Lines of stdout/stderr are passed here (stdout is also collected). */
  onLine?: (line: string, stream: 'stdout' | 'stderr' | 'status') => void;
  /** Open fd 3 as a pipe whose lines go to onLine with stream 'status' (apt's APT::Status-Fd). */
  statusFd?: boolean;
  input?: string | Buffer;
  /** Collect stdout as a Buffer instead of (also) splitting it into lines. */
  binaryStdout?: boolean;
}

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
  }
}

function splitLines(cb: (line: string) => void): { push(b: Buffer): void; end(): void } {
  let rest = '';
  return {
    push(b) {
      rest += b.toString('utf8');
      const parts = rest.split(/\r?\n|\r/);
      rest = parts.pop() ?? '';
      for (const p of parts) if (p.length > 0) cb(p);
    },
    end() {
      if (rest.length > 0) cb(rest);
      rest = '';
    },
  };
}

/** Runs a command; resolves with its result whatever the exit status. */
export function runRaw(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdio: ('pipe' | 'ignore')[] = [o.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'];
    if (o.statusFd) stdio.push('pipe');
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio });
    const out: Buffer[] = [];
    let err = '';
    const outLines = splitLines((l) => o.onLine?.(l, 'stdout'));
    const errLines = splitLines((l) => o.onLine?.(l, 'stderr'));
    child.stdout!.on('data', (b: Buffer) => {
      out.push(b);
      if (!o.binaryStdout) outLines.push(b);
    });
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString('utf8');
      if (err.length > 200_000) err = err.slice(-100_000);
      errLines.push(b);
    });
    if (o.statusFd) {
      const st = splitLines((l) => o.onLine?.(l, 'status'));
      const s = child.stdio[3] as NodeJS.ReadableStream | null;
      s?.on('data', (b: Buffer) => st.push(b));
      s?.on('end', () => st.end());
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      outLines.end();
      errLines.end();
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr: err });
    });
    if (o.input !== undefined) child.stdin!.end(o.input);
  });
}

/** Runs a command; rejects with a CommandError (carrying the stderr tail) on a non-zero exit. */
export async function run(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  let r: RunResult;
  try {
    r = await runRaw(cmd, args, o);
  } catch (e) {
    throw new Error(`cannot run ${cmd}: ${(e as Error).message}`);
  }
  if (r.code !== 0) {
    const tail = r.stderr.trim().split('\n').slice(-15).join('\n');
    throw new CommandError(`${cmd} ${args.join(' ')} exited with ${r.code}${tail ? `:\n${tail}` : ''}`, r);
  }
  return r;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}
