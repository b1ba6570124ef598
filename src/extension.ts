// StreamSink's entry point: wires settings, the language server, the status bar and the commands.
import * as vscode from "vscode";
import { GenerateRequest, type ServerStatus } from "../common/protocol";
import type { SettingProblem } from "../common/settings";
import { ServerConnection } from "./client";
import { registerChat } from "./chat";
import { registerCommands } from "./commands";
import { registerCompletions } from "./completion";
import { needsServerRestart, readSettings, section } from "./config";
import { registerDiagnosticsFeature } from "./diagnostics";
import { log, logChannel } from "./log";
import { StatusBar } from "./statusBar";
import { StatusNotifications } from "./statusNotifications";
import { errorMessage } from "../common/errors";

let server: ServerConnection | undefined;

function reportProblems(problems: SettingProblem[]): void {
  for (const problem of problems) log.warn(problem.message);
  if (problems.length > 0) {
    void vscode.window
      .showWarningMessage(`StreamSink: ${problems.map((problem) => problem.message).join(" ")}`, "Open Settings")
      .then((choice) => {
        if (choice) void vscode.commands.executeCommand("workbench.action.openSettings", section);
      });
  }
}

/** What activate() returns: the server status, for the extension-host tests (test/vscode) and other extensions. */
export interface StreamSinkApi {
  readonly status: ServerStatus;
  readonly onDidChangeStatus: vscode.Event<ServerStatus>;
  /** The language-server process's id while it runs. */
  readonly serverPid: number | undefined;
}

export async function activate(context: vscode.ExtensionContext): Promise<StreamSinkApi> {
  context.subscriptions.push(logChannel());
  const { settings, problems } = readSettings();
  reportProblems(problems);
  log.info(`Effective settings: ${JSON.stringify(settings)}`);

  const connection = new ServerConnection(context.extensionUri, settings, vscode.Uri.joinPath(context.globalStorageUri, "kv").fsPath);
  server = connection;
  const statusBar = new StatusBar();
  context.subscriptions.push(connection, statusBar);
  context.subscriptions.push(registerCompletions(connection));

  const notifications = new StatusNotifications();
  context.subscriptions.push(
    notifications,
    connection.onStatus((status) => {
      statusBar.update(status);
      // Error notifications close by themselves once the error is fixed (src/statusNotifications.ts).
      notifications.update(status, connection.running !== undefined);
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(section)) return;
      const next = readSettings();
      reportProblems(next.problems);
      log.info(`Settings changed: ${JSON.stringify(next.settings)}`);
      if (needsServerRestart(event)) {
        await connection.configure(next.settings);
        await connection.restart();
      } else {
        await connection.configure(next.settings);
      }
    }),
    ...registerCommands(connection, [
      { id: "streamsink.showLog", requiresReady: false, run: () => logChannel().show() },
      { id: "streamsink.restartServer", requiresReady: false, run: () => connection.restart() },
      {
        id: "streamsink.continueAtCursor",
        requiresReady: true,
        run: () => continueAtCursor(connection),
      },
    ]),
  );
  context.subscriptions.push(...registerDiagnosticsFeature(context, connection, statusBar));
  await registerChat(context, connection);

  await connection.start();
  return {
    get status() {
      return connection.currentStatus;
    },
    onDidChangeStatus: connection.onStatus,
    get serverPid() {
      return connection.serverPid;
    },
  };
}

/** Generates a continuation of the text before the cursor and inserts it (the first end-to-end request). */
async function continueAtCursor(connection: ServerConnection): Promise<void> {
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

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
