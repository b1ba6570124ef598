// Command registration. A command that needs the model says why it cannot run yet (loading, no
// model, error) instead of failing silently.
import * as vscode from "vscode";
import type { ServerConnection } from "./client";

export interface CommandSpec {
  id: string;
  /** Needs a running server with a loaded model. */
  requiresReady: boolean;
  run: (...args: unknown[]) => unknown;
}

export function notReadyMessage(server: ServerConnection): string {
  const status = server.currentStatus;
  switch (status.state) {
    case "starting":
      return "StreamSink is still starting. Try again in a moment.";
    case "loading":
      return `StreamSink is still loading ${status.modelName ?? "the model"}. Try again in a moment.`;
    case "noModel":
      return "StreamSink has no model. Set streamsink.model.path to a GGUF file (StreamSink: Select Model).";
    case "error":
      return `StreamSink is not ready: ${status.message}`;
    case "ready":
      return "The StreamSink server is not running. Run “StreamSink: Restart Server”.";
  }
}

export function registerCommands(server: ServerConnection, specs: CommandSpec[]): vscode.Disposable {
  const commands = specs.map((spec) =>
    vscode.commands.registerCommand(spec.id, async (...args: unknown[]) => {
      if (spec.requiresReady && !server.isReady) {
        // Not awaited: the command returns at once instead of waiting until the toast is dismissed
        // (callers such as the diagnostics panel or executeCommand would hang until then).
        void vscode.window.showWarningMessage(notReadyMessage(server), "Open Settings", "Show Log").then((choice) => {
          if (choice === "Open Settings") {
            void vscode.commands.executeCommand("workbench.action.openSettings", "streamsink.model");
          } else if (choice === "Show Log") {
            void vscode.commands.executeCommand("streamsink.showLog");
          }
        });
        return undefined;
      }
      return spec.run(...args);
    }),
  );
  return vscode.Disposable.from(...commands);
}
