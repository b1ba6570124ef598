// Starts the language server process (dist/server.js, forked with an IPC channel) for the language
// client, the way vscode-languageclient's NodeModule/ipc option does, but keeps the ChildProcess so
// crash recovery can tell how it ended (exit code or signal) and can make sure none is left running.
// No `vscode` import: model tests drive it directly.
import { fork, type ChildProcess } from "node:child_process";
import { IPCMessageReader, IPCMessageWriter, type MessageReader, type MessageWriter } from "vscode-languageserver-protocol/node";
import type { ServerExit } from "./crashWindow";

export interface ServerLaunchOptions {
  /** Absolute path of dist/server.js. */
  module: string;
  execArgv?: string[];
  cwd?: string;
  /** Receives the server's stderr (native llama.cpp messages, Node fatal errors). */
  onStderr?: (text: string) => void;
}

interface Launched {
  child: ChildProcess;
  exit: Promise<ServerExit>;
}

/**
 * glibc malloc settings for the server (environment variables, read once at process start):
 * - at most two arenas: with glibc's default (8 per core) the llama.cpp and libuv worker threads
 *   each get one, and a 15-minute soak ended at 257 MB RSS instead of 209 MB, no faster;
 * - a fixed mmap threshold of 128 KiB: by default glibc raises the threshold each time a large
 *   block is freed, after which large short-lived buffers come from the heap and fragment it; a 15-minute soak grew +16.5% (213.9 → 249.1 MB) with two arenas alone and
 *   −2.9% (209.5 → 203.4 MB) with both, p95 latency unchanged (docs/BENCHMARKS.md, Soak).
 * Values the user set win; other C libraries ignore them.
 */
export const allocatorEnvironment: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: "2",
  MALLOC_MMAP_THRESHOLD_: "131072",
};

/**
 * The server process's environment: the allocator settings above, and plain Node (inside VS Code
 * process.execPath is Electron).
 */
export function serverEnvironment(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...allocatorEnvironment, ...base, ELECTRON_RUN_AS_NODE: "1", ELECTRON_NO_ASAR: "1" };
}

export class ServerProcessLauncher {
  private current: Launched | undefined;

  constructor(private readonly options: ServerLaunchOptions) {}

  /** The running (or last) server's process id. */
  get pid(): number | undefined {
    return this.current?.child.pid;
  }

  /** Forks a new server process and returns the transports for the language client. */
  launch(): Promise<{ reader: MessageReader; writer: MessageWriter }> {
    this.killCurrent();
    const child = fork(this.options.module, ["--node-ipc", `--clientProcessId=${process.pid}`], {
      execArgv: this.options.execArgv ?? [],
      cwd: this.options.cwd,
      env: serverEnvironment(),
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const exit = new Promise<ServerExit>((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
      // A fork that fails to spawn emits 'error' without 'exit'.
      child.once("error", () => resolve({ code: child.exitCode, signal: child.signalCode }));
    });
    const forward = (chunk: Buffer) => this.options.onStderr?.(chunk.toString());
    child.stderr?.on("data", forward);
    child.stdout?.on("data", forward);
    this.current = { child, exit };
    return Promise.resolve({ reader: new IPCMessageReader(child), writer: new IPCMessageWriter(child) });
  }

  /**
   * How the current server process ended; waits up to `timeoutMs` for the exit event (the IPC
   * channel can close a moment before it). Undefined if it has not exited by then.
   */
  async lastExit(timeoutMs = 1000): Promise<ServerExit | undefined> {
    const current = this.current;
    if (current === undefined) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    try {
      return await Promise.race([current.exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the current server if it is still running (after a failed stop, or on dispose). */
  killCurrent(): void {
    const child = this.current?.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
