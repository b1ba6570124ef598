// StreamSink's entry point: reads the settings, builds the one FeatureContext (server connection,
// status bar, log) and registers every feature (`src/<feature>/index.ts`, `register(ctx)`), then
// starts the language server.
import * as vscode from "vscode";
import type { ServerStatus } from "../common/protocol";
import { register as registerChat } from "./chat";
import { ServerConnection } from "./client";
import { register as registerCompletion } from "./completion";
import { readSettings, reportProblems } from "./config";
import { register as registerDiagnostics } from "./diagnostics";
import type { FeatureContext } from "./feature";
import { register as registerGenerate } from "./generate";
import { register as registerLifecycle } from "./lifecycle";
import { log, logChannel } from "./log";
import { register as registerModels } from "./models";
import { StatusBar } from "./statusBar";

let server: ServerConnection | undefined;

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
  const pending: Promise<unknown>[] = [];
  const ctx: FeatureContext = { extension: context, server: connection, statusBar, log, waitFor: (task) => pending.push(task) };
  context.subscriptions.push(registerCompletion(ctx));
  context.subscriptions.push(registerLifecycle(ctx));
  context.subscriptions.push(registerGenerate(ctx));
  context.subscriptions.push(registerDiagnostics(ctx));
  context.subscriptions.push(registerModels(ctx));
  context.subscriptions.push(registerChat(ctx));
  await Promise.all(pending);

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

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
