/**
 * Real server processes for fault tests: a private etcd or Redis on free ports that a test
 * may SIGKILL and restart without disturbing the shared services.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { openSync, readdirSync, readFileSync } from "node:fs";
import process from "node:process";

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns true, or throws after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 50, what = "condition" } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Stops a process with SIGSTOP and waits until every one of its threads is stopped: the
 * signal is only queued when `kill` returns, and a thread of a busy server may still answer
 * a request that was already in its hands (Linux: read from `/proc`).
 */
export async function stopProcess(pid: number): Promise<void> {
  process.kill(pid, "SIGSTOP");
  // The state is the field after the parenthesised command name: T (stopped) or t (traced).
  const state = (file: string) => /\)\s+(\S)/.exec(readFileSync(file, "utf8"))?.[1];
  await waitUntil(
    () =>
      readdirSync(`/proc/${pid}/task`).every((task) =>
        /^[Tt]$/.test(state(`/proc/${pid}/task/${task}/stat`) ?? "")
      ),
    { timeoutMs: 5_000, intervalMs: 5, what: `process ${pid} to stop` },
  );
}

/** Resolves as `promise` does, or rejects once `timeoutMs` passed first: a lost event fails the test instead of hanging the run. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** How to run one server process. */
export interface ServerSpec {
  /** Name for messages. */
  name: string;
  /** Executable. */
  command: string;
  /** Arguments. */
  args: string[];
  /** Resolves true once the server answers. */
  ready: () => Promise<boolean>;
  /** Where stdout and stderr go; default /dev/null. */
  logFile?: string;
  /** How long to wait for `ready`; default 20 s. */
  startTimeoutMs?: number;
}

/** A server process a test controls. */
export interface ServerProcess {
  /** The running process's pid, or undefined while stopped. */
  readonly pid: number | undefined;
  /** Starts it (again) and waits until ready. */
  start(): Promise<void>;
  /** Sends SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Sends SIGTERM, waits for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/** Starts a server process and waits until it is ready. */
export async function startServer(spec: ServerSpec): Promise<ServerProcess> {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  /** The end of the server's log, for an error message. */
  const tail = () => {
    if (!spec.logFile) return "";
    try {
      const text = readFileSync(spec.logFile, "utf8").trimEnd();
      return text ? `; its log ends:\n${text.slice(-2_000)}` : "";
    } catch {
      return "";
    }
  };
  const start = async () => {
    if (child) throw new Error(`${spec.name} is already running`);
    const out = spec.logFile ? openSync(spec.logFile, "a") : "ignore";
    const proc = spawn(spec.command, spec.args, { stdio: ["ignore", out, out] });
    child = proc;
    exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    proc.once("exit", () => {
      if (child === proc) child = undefined;
    });
    let ready = false;
    // A server that exits before it is ready (a port taken meanwhile, a bad flag) fails at
    // once, with what it logged, rather than after the whole start timeout.
    const exitedEarly = new Promise<never>((_, reject) =>
      proc.once("exit", (code, sig) => {
        if (!ready) {
          reject(new Error(`${spec.name} exited (${sig ?? code}) before it was ready${tail()}`));
        }
      })
    );
    exitedEarly.catch(() => {});
    try {
      await Promise.race([
        waitUntil(spec.ready, {
          timeoutMs: spec.startTimeoutMs ?? 20_000,
          intervalMs: 100,
          what: `${spec.name} to be ready`,
        }),
        exitedEarly,
      ]);
      ready = true;
    } catch (error) {
      ready = true;
      // Never leave a server that did not come up running behind the test.
      proc.kill("SIGKILL");
      await exited;
      throw error instanceof Error && !error.message.includes("\n")
        ? new Error(`${error.message}${tail()}`)
        : error;
    }
  };
  const signal = async (sig: NodeJS.Signals, graceMs: number) => {
    const proc = child;
    if (!proc) return;
    proc.kill(sig);
    const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
    child = undefined;
  };
  await start();
  return {
    get pid() {
      return child?.pid;
    },
    start,
    kill: () => signal("SIGKILL", 0),
    stop: () => signal("SIGTERM", 10_000),
  };
}
