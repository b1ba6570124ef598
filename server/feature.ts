// The one shape of a server feature: `register(ctx): Disposable` in `server/<feature>/index.ts`.
// server.ts builds one ServerContext per connection and disposes what each feature returns on shutdown.
import type { Connection, TextDocuments } from "vscode-languageserver/node";
import type { TextDocument } from "vscode-languageserver-textdocument";
import type { Disposable } from "../common/disposable";
import type { Engine } from "./engine";
import type { Logger } from "./log";
import type { SequenceRegistry } from "./sequences";

export interface ServerContext {
  readonly connection: Connection;
  readonly engine: Engine;
  readonly log: Logger;
  /** Accounting of the features' StreamingLLM sequences (diagnostics, status bar). */
  readonly sequences: SequenceRegistry;
  readonly documents: TextDocuments<TextDocument>;
  /** The client's storage folder (absolute), once it has sent a usable one. */
  storagePath(): string | undefined;
  /** Called with each new storage folder the client sends; returns how to stop listening. */
  onStoragePath(listener: (folder: string) => void): Disposable;
}

export type RegisterFeature = (ctx: ServerContext) => Disposable;
