// The language client's ErrorHandler: when the server process dies (killed, out of memory, native
// abort) the client restarts it at once and says what happened; after repeated crashes
// (CrashWindow) it stops restarting and says why. The decision itself is in crashWindow.ts.
import { CloseAction, ErrorAction, type CloseHandlerResult, type ErrorHandler, type ErrorHandlerResult } from "vscode-languageclient/node";
import { CrashWindow, type CrashDecision, type CrashWindowOptions } from "./crashWindow";
import type { ServerProcessLauncher } from "./serverProcess";

export interface CrashEvent extends CrashDecision {
  at: Date;
}

export class CrashRecovery implements ErrorHandler {
  private readonly window: CrashWindow;
  private stopDecision: CrashEvent | undefined;

  constructor(
    private readonly launcher: ServerProcessLauncher,
    /** Called for every crash with what was decided (status bar, notification, log). */
    private readonly report: (event: CrashEvent) => void,
    options?: CrashWindowOptions,
  ) {
    this.window = new CrashWindow(options);
  }

  /** Why the server is no longer restarted, once it gave up (until reset). */
  get gaveUp(): CrashEvent | undefined {
    return this.stopDecision;
  }

  /** The user restarted the server by hand: start counting again. */
  reset(): void {
    this.window.reset();
    this.stopDecision = undefined;
  }

  error(_error: Error, _message: unknown, count: number | undefined): ErrorHandlerResult {
    // A write/read error on a live connection: keep going unless it keeps failing (the close
    // handler decides about restarts once the process is really gone).
    return { action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown, handled: true };
  }

  async closed(): Promise<CloseHandlerResult> {
    const exit = await this.launcher.lastExit(1000);
    const decision = this.window.record(Date.now(), exit);
    const event: CrashEvent = { ...decision, at: new Date() };
    if (decision.action === "stop") this.stopDecision = event;
    this.report(event);
    return {
      action: decision.action === "restart" ? CloseAction.Restart : CloseAction.DoNotRestart,
      message: decision.message,
      // The report callback shows it (status bar, notification): the client only logs it.
      handled: true,
    };
  }
}

/** Presents a crash: the log always; a restart also as a status-bar message for a while. */
export function logCrash(event: CrashEvent, log: { warn(message: string): void; error(message: string): void }): void {
  if (event.action === "restart") log.warn(event.message);
  else log.error(event.message);
}
