// The decision part of crash recovery, pure (no `vscode`): how a server exit is described to the
// user, and whether to restart it — restart after a crash, but stop after `maxCrashes` crashes
// inside `windowMs` (a server that dies on every start must not be restarted forever).

/** How the server process ended, as Node's child_process 'exit' event reports it. */
export interface ServerExit {
  code: number | null;
  signal: string | null;
}

/** Words for the user: "signal SIGKILL, possibly out of memory", "exit code 3". */
export function describeExit(exit: ServerExit | undefined): string {
  if (exit === undefined) return "the connection closed";
  if (exit.signal !== null) {
    const hint = signalHints[exit.signal];
    return `signal ${exit.signal}${hint ? `, ${hint}` : ""}`;
  }
  if (exit.code !== null) {
    // Node turns fatal errors into exit codes: 134 = abort, 137 = SIGKILL seen through a shell.
    const hint = exit.code === 134 ? ", a native abort" : exit.code === 137 ? ", killed (possibly out of memory)" : "";
    return `exit code ${exit.code}${hint}`;
  }
  return "an unknown reason";
}

const signalHints: Record<string, string> = {
  SIGKILL: "killed (possibly out of memory)",
  SIGABRT: "a native abort in llama.cpp",
  SIGSEGV: "a native crash in llama.cpp",
  SIGBUS: "a native crash in llama.cpp",
  SIGILL: "the CPU lacks an instruction the llama.cpp binary needs",
  SIGTERM: "terminated",
};

export interface CrashDecision {
  action: "restart" | "stop";
  /** Crashes inside the window, this one included. */
  crashes: number;
  /** What happened, for the status bar and the log. */
  message: string;
}

export interface CrashWindowOptions {
  /** The crash that makes this many inside the window is not restarted. */
  maxCrashes: number;
  windowMs: number;
}

export const defaultCrashWindow: CrashWindowOptions = { maxCrashes: 4, windowMs: 3 * 60_000 };

function minutes(ms: number): string {
  const value = ms / 60_000;
  return Number.isInteger(value) ? `${value} minute${value === 1 ? "" : "s"}` : `${Math.round(ms / 1000)} seconds`;
}

export class CrashWindow {
  private crashTimes: number[] = [];

  constructor(private readonly options: CrashWindowOptions = defaultCrashWindow) {}

  /** Crashes currently inside the window (as of the last record). */
  get recentCrashes(): number {
    return this.crashTimes.length;
  }

  /** Records a crash at time `now` (ms) and decides what to do. */
  record(now: number, exit: ServerExit | undefined): CrashDecision {
    this.crashTimes = this.crashTimes.filter((time) => now - time < this.options.windowMs);
    this.crashTimes.push(now);
    const crashes = this.crashTimes.length;
    const how = describeExit(exit);
    if (crashes >= this.options.maxCrashes) {
      return {
        action: "stop",
        crashes,
        message:
          `The StreamSink server crashed ${crashes} times in ${minutes(this.options.windowMs)} (last: ${how}); ` +
          `it is not restarted again automatically. The log has details; fix the cause (a smaller model or context, ` +
          `another backend), then run “StreamSink: Restart Server”.`,
      };
    }
    return { action: "restart", crashes, message: `StreamSink server crashed (${how}); restarted.` };
  }

  /** Forgets past crashes (after the user restarts the server by hand). */
  reset(): void {
    this.crashTimes = [];
  }
}
