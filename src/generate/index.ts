// "StreamSink: Continue at Cursor": generates a continuation of the text before the cursor
// (`streamsink/generate`) and inserts it.
import * as vscode from "vscode";
import { errorMessage } from "../../common/errors";
import { GenerateRequest } from "../../common/protocol";
import type { ServerConnection } from "../client";
import { registerCommands } from "../commands";
import type { FeatureContext } from "../feature";
import type { Log } from "../log";

async function continueAtCursor(connection: ServerConnection, log: Log): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const client = connection.running;
  if (!editor || !client) {
    void vscode.window.showInformationMessage("StreamSink: open a file and place the cursor where to continue.");
    return;
  }
  const position = editor.selection.active;
  const prefix = editor.document.getText(new vscode.Range(new vscode.Position(0, 0), position)).slice(-4000);
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: "StreamSink: generating…", cancellable: true },
    async (_progress, token) => {
      try {
        const result = await client.sendRequest(GenerateRequest.type, { prompt: prefix, maxTokens: 64 }, token);
        if (token.isCancellationRequested) return;
        await editor.edit((edit) => edit.insert(position, result.text));
      } catch (error) {
        if (token.isCancellationRequested) return;
        const message = errorMessage(error);
        log.error(`Generate failed: ${message}`);
        void vscode.window.showErrorMessage(`StreamSink: ${message}`);
      }
    },
  );
}

export function register({ server, log }: FeatureContext): vscode.Disposable {
  return registerCommands(server, [{ id: "streamsink.continueAtCursor", requiresReady: true, run: () => continueAtCursor(server, log) }]);
}
