// Notifications for the server status (decisions in common/statusNotices.ts). An error notification
// stays while the error lasts and closes by itself once it is fixed: VS Code cannot close a
// showErrorMessage toast, so it is a progress notification ("StreamSink error: …", a full bar, the
// command links in its text) that ends when the status changes.
import * as vscode from "vscode";
import type { ServerStatus } from "../common/protocol";
import { planNotices } from "../common/statusNotices";
import { log } from "./log";

export class StatusNotifications implements vscode.Disposable {
  private openError: { key: string; close: () => void } | undefined;
  private readonly warned = new Set<string>();

  update(status: ServerStatus, serverRunning: boolean): void {
    const plan = planNotices(status, this.openError?.key, this.warned, serverRunning);
    if (plan.closeError) this.closeError();
    if (plan.openError !== undefined) this.showError(status.message, plan.openError);
    if (plan.warning !== undefined) {
      this.warned.add(plan.warning);
      log.warn(plan.warning);
      void vscode.window.showWarningMessage(`StreamSink: ${plan.warning}`, "Open Settings").then((choice) => {
        if (choice) void vscode.commands.executeCommand("workbench.action.openSettings", "streamsink.context.size");
      });
    }
  }

  dispose(): void {
    this.closeError();
  }

  private closeError(): void {
    this.openError?.close();
    this.openError = undefined;
  }

  private showError(key: string, text: string): void {
    this.closeError();
    let close = (): void => undefined;
    const closed = new Promise<void>((resolve) => (close = resolve));
    const entry = { key, close };
    this.openError = entry;
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "StreamSink error", cancellable: true },
      (progress, token) => {
        // A full bar: the notification reports a state, not work in progress.
        progress.report({ message: text, increment: 100 });
        token.onCancellationRequested(() => {
          // Dismissed by the user: forget it so that the same error is not shown again at once.
          if (this.openError === entry) this.openError = { key, close: () => undefined };
          close();
        });
        return closed;
      },
    );
  }
}
