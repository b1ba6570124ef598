// The one shape of an extension feature: `register(ctx): vscode.Disposable` in `src/<feature>/index.ts`.
// src/extension.ts builds one FeatureContext and pushes what each feature returns into the
// extension's subscriptions; a feature puts what it creates into one DisposableStore and returns it.
import type * as vscode from "vscode";
import type { ServerConnection } from "./client";
import type { Log } from "./log";
import type { StatusBar } from "./statusBar";

export interface FeatureContext {
  readonly extension: vscode.ExtensionContext;
  /** The language server: its status, settings and the running client (`forEachClient`). */
  readonly server: ServerConnection;
  readonly statusBar: StatusBar;
  readonly log: Log;
  /** Work that activation finishes before the server starts (reading the chat history). */
  waitFor(task: Promise<unknown>): void;
}

export type RegisterFeature = (ctx: FeatureContext) => vscode.Disposable;
