// Child processes the e2e harness starts: each in its own process group (setsid via `detached`),
// stopped by killing the whole group, so extension hosts, language servers and file watchers go
// with it. Every started group is tracked and stopped on exit and on SIGINT/SIGTERM/SIGHUP.
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import fs from "node:fs";

export interface Group {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Combined stdout+stderr so far (also written to logFile when given). */
  output(): string;
  stop(): Promise<void>;
}

const live = new Set<Group>();

function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

export function startGroup(name: string, command: string, args: string[], options: SpawnOptions & { logFile?: string } = {}): Group {
  const { logFile, ...spawnOptions } = options;
  const child = spawn(command, args, { ...spawnOptions, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let buffer = "";
  const sink = logFile ? fs.createWriteStream(logFile, { flags: "a" }) : undefined;
  const onData = (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    buffer = (buffer + text).slice(-200_000);
    sink?.write(text);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : null)));
    child.on("error", (err) => {
      buffer += `\n[spawn error] ${err.message}\n`;
      resolve(null);
    });
  });
  let stopping: Promise<void> | undefined;
  const group: Group = {
    name,
    child,
    exited,
    output: () => buffer,
    stop: () => {
      stopping ??= (async () => {
        const pid = child.pid;
        if (pid !== undefined) {
          killGroup(pid, "SIGTERM");
          const timedOut = await Promise.race([
            exited.then(() => false),
            new Promise<boolean>((r) => setTimeout(() => r(true), 5000).unref()),
          ]);
          // The leader may be gone while group members linger: always finish with SIGKILL.
          killGroup(pid, "SIGKILL");
          if (timedOut) await exited;
        }
        sink?.end();
        live.delete(group);
      })();
      return stopping;
    },
  };
  live.add(group);
  return group;
}

/** Stops every group still running (used by finally blocks and signal handlers). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((g) => g.stop()));
}

let handlersInstalled = false;
let stoppingOnSignal = false;

/** True once a signal handler started stopping everything (callers stay quiet then). */
export function shuttingDown(): boolean {
  return stoppingOnSignal;
}

/** On SIGINT/SIGTERM/SIGHUP: run `cleanup` (browser), stop all groups, exit 130/143. */
export function installSignalHandlers(cleanup: () => Promise<void> = async () => {}): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stoppingOnSignal) return;
    stoppingOnSignal = true;
    process.stderr.write(`\n${signal}: stopping code-server, browsers and their process groups…\n`);
    const hardExit = setTimeout(() => process.exit(1), 15_000);
    hardExit.unref();
    void cleanup()
      .catch(() => {})
      .then(stopAll)
      .finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
  // Last resort on a normal or crashing exit: synchronous SIGKILL of every group still alive.
  process.on("exit", () => {
    for (const g of live) if (g.child.pid !== undefined) killGroup(g.child.pid, "SIGKILL");
  });
}

/** PIDs of processes whose command line mentions `marker` (a unique temp path) — leak check. */
export function processesMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmd.includes(marker)) pids.push(Number(entry));
    } catch {
      // process ended meanwhile
    }
  }
  return pids;
}
