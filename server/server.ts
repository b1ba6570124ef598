// The StreamSink language server process: started by the extension over IPC, it owns llama.cpp
// (through the engine) and answers the protocol in common/protocol/. Each feature is one folder
// with `register(ctx): Disposable` (server/feature.ts); this file builds the one ServerContext,
// registers them into one store, and disposes it on shutdown.
import { createConnection, ProposedFeatures, TextDocuments, TextDocumentSyncKind } from "vscode-languageserver/node";
import { TextDocument } from "vscode-languageserver-textdocument";
import { DisposableStore } from "../common/disposable";
import { ConfigureNotification, ErrorCodes, ServerStatusNotification } from "../common/protocol";
import { register as registerChat } from "./chat";
import { register as registerCompletion } from "./completion";
import { ClientConfiguration } from "./configuration";
import { register as registerDiagnostics } from "./diagnostics";
import { Engine } from "./engine";
import type { ServerContext } from "./feature";
import { register as registerGenerate } from "./generate";
import { connectionLogger, errorMessage } from "./log";
import { guardedIpcTransport } from "./messageGuard";
import { register as registerModels } from "./models";
import { SequenceRegistry } from "./sequences";

// Malformed messages that would throw inside vscode-jsonrpc are dropped first (server/messageGuard.ts).
let dropped = (_problem: string): void => undefined;
const [reader, writer] = guardedIpcTransport((problem) => dropped(problem));
const connection = createConnection(ProposedFeatures.all, reader, writer, {
  // A request cancelled while still queued is answered without running (stale completions): the
  // library only drops it when this returns a response (returning undefined dispatches it anyway).
  cancelUndispatched: (message) => ({
    jsonrpc: "2.0",
    id: (message as { id?: number | string | null }).id ?? null,
    error: { code: ErrorCodes.requestCancelled, message: "Cancelled before it started." },
  }),
});
const log = connectionLogger(connection);
dropped = (problem) => log.warn(`Ignored a malformed message from the client: ${problem}.`);
const engine = new Engine(log, (status) => void connection.sendNotification(ServerStatusNotification.type, status));
const configuration = new ClientConfiguration(log);
const ctx: ServerContext = {
  connection,
  engine,
  log,
  sequences: new SequenceRegistry(),
  documents: new TextDocuments(TextDocument),
  storagePath: () => configuration.storagePath(),
  onStoragePath: (listener) => configuration.onStoragePath(listener),
};

const features = new DisposableStore();
features.add(ctx.onStoragePath((folder) => engine.setStoragePath(folder)));
features.add(registerDiagnostics(ctx));
features.add(registerModels(ctx));
features.add(registerCompletion(ctx));
features.add(registerGenerate(ctx));
features.add(registerChat(ctx));

features.add(
  connection.onInitialize((params) => {
    void engine.configure(configuration.apply(params.initializationOptions));
    return {
      capabilities: { textDocumentSync: TextDocumentSyncKind.Incremental, inlineCompletionProvider: true },
      serverInfo: { name: "StreamSink", version: "0.1.0" },
    };
  }),
);
features.add(
  // The client may have missed the first status while it was still starting: repeat it.
  connection.onInitialized(() => void connection.sendNotification(ServerStatusNotification.type, engine.currentStatus)),
);
features.add(connection.onNotification(ConfigureNotification.type, (settings) => void engine.configure(configuration.apply(settings))));

connection.onShutdown(async () => {
  // The engine first: features release the model through their engine listeners, then unregister.
  await engine.dispose();
  features.dispose();
});

process.on("uncaughtException", (error) => log.error(`Uncaught exception: ${error.stack ?? error.message}`));
process.on("unhandledRejection", (reason) => log.error(`Unhandled rejection: ${errorMessage(reason)}`));

features.add(ctx.documents.listen(connection));
connection.listen();
