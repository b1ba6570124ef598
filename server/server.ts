// The StreamSink language server process: started by the extension over IPC, it owns llama.cpp
// (through the engine) and answers the protocol in common/protocol/.
import path from "node:path";
import {
  createConnection,
  ProposedFeatures,
  ResponseError,
  TextDocuments,
  TextDocumentSyncKind,
  type CancellationToken,
  type InitializeParams,
  type InitializeResult,
} from "vscode-languageserver/node";
import { TextDocument } from "vscode-languageserver-textdocument";
import {
  ConfigureNotification,
  ErrorCodes,
  GenerateRequest,
  ServerStatusNotification,
  type GenerateParams,
  type GenerateResult,
} from "../common/protocol";
import { sanitizeSettings, type Settings } from "../common/settings";
import { check, int, isRecord, isString, number, object, optional, string, withMessage } from "../common/validate";
import { register as registerChat } from "./chat";
import { registerCompletions } from "./completion";
import { registerDiagnostics } from "./diagnostics";
import { Engine, ModelNotReadyError } from "./engine";
import type { ServerContext } from "./feature";
import { connectionLogger, errorMessage } from "./log";
import { guardedIpcTransport } from "./messageGuard";
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
const documents = new TextDocuments(TextDocument);
const engine = new Engine(log, (status) => void connection.sendNotification(ServerStatusNotification.type, status));
/** Accounting of the features' StreamingLLM sequences, for diagnostics and the status bar. */
const sequences = new SequenceRegistry();
// Features register here, each from its own module: `registerX({connection, engine, log, sequences, documents})`.
void sequences;
registerDiagnostics({ connection, engine, log, sequences });
registerCompletions({ connection, engine, log, sequences, documents });
// Minimal ServerContext for the chat feature (the features branch builds the full one).
let storageFolder: string | undefined;
const storageListeners = new Set<(folder: string) => void>();
const ctx: ServerContext = {
  connection,
  engine,
  log,
  sequences,
  documents,
  storagePath: () => storageFolder,
  onStoragePath: (listener) => (storageListeners.add(listener), { dispose: () => storageListeners.delete(listener) }),
};
registerChat(ctx);
function setStoragePath(folder: string | undefined): void {
  if (folder === undefined) return;
  storageFolder = folder;
  for (const listener of storageListeners) listener(folder);
}

/** Settings arrive already sanitised, but a bad client must not crash us: sanitise again. */
function settingsFrom(raw: unknown): Settings {
  const record = isRecord(raw) ? raw : {};
  const lookup = (key: string): unknown => {
    let value: unknown = record;
    for (const part of key.split(".")) value = isRecord(value) ? value[part] : undefined;
    return value;
  };
  const { settings, problems } = sanitizeSettings(lookup);
  for (const problem of problems) log.warn(`Ignoring invalid setting from the client: ${problem.message}`);
  return settings;
}

/** The client's storage folder (`ServerConfiguration.storagePath`), when it sent a usable one. */
function storagePathFrom(raw: unknown): string | undefined {
  const value = isRecord(raw) ? raw.storagePath : undefined;
  if (value === undefined) return undefined;
  if (isString(value, 4096) && path.isAbsolute(value)) return value;
  log.warn("Ignoring the storage folder from the client: storagePath must be an absolute path. Chat KV snapshots are not saved.");
  return undefined;
}

function toResponseError(error: unknown): ResponseError<void> {
  if (error instanceof ResponseError) return error;
  if (error instanceof ModelNotReadyError) return new ResponseError(ErrorCodes.modelNotReady, error.message);
  return new ResponseError(ErrorCodes.internalError, errorMessage(error));
}

function abortSignalFor(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

connection.onInitialize((params: InitializeParams): InitializeResult => {
  const storagePath = storagePathFrom(params.initializationOptions);
  setStoragePath(storagePath);
  engine.setStoragePath(storagePath);
  void engine.configure(settingsFrom(params.initializationOptions));
  return {
    capabilities: { textDocumentSync: TextDocumentSyncKind.Incremental, inlineCompletionProvider: true },
    serverInfo: { name: "StreamSink", version: "0.1.0" },
  };
});

connection.onInitialized(() => {
  // The client may have missed the first status while it was still starting: repeat it.
  void connection.sendNotification(ServerStatusNotification.type, engine.currentStatus);
});

connection.onNotification(ConfigureNotification.type, (settings) => {
  const storagePath = storagePathFrom(settings);
  setStoragePath(storagePath);
  engine.setStoragePath(storagePath);
  void engine.configure(settingsFrom(settings));
});

const generateParams = withMessage(
  object({ prompt: string(1_000_000), maxTokens: int(1, 4096), temperature: optional(number(0, 2)) }),
  "streamsink/generate needs {prompt: string of at most 1,000,000 characters, maxTokens: 1..4096, temperature?: 0..2}.",
);

connection.onRequest(GenerateRequest.type, async (raw, token): Promise<GenerateResult> => {
  const checked = check(generateParams, raw);
  if (!checked.ok) throw new ResponseError(ErrorCodes.invalidParams, checked.message);
  const params: GenerateParams = checked.value;
  try {
    const loaded = engine.requireModel();
    const started = performance.now();
    const promptTokens = loaded.model.tokenize(params.prompt, false);
    const contextSize = Math.min(loaded.settings.context.size, promptTokens.length + params.maxTokens + 8);
    const context = await engine.createContext({ contextSize: Math.max(256, contextSize), label: "generate" });
    try {
      const completion = new loaded.llamaCpp.LlamaCompletion({ contextSequence: context.getSequence() });
      let generatedTokens = 0;
      const text = await completion.generateCompletion(params.prompt, {
        maxTokens: params.maxTokens,
        temperature: params.temperature ?? 0,
        signal: abortSignalFor(token),
        stopOnAbortSignal: true,
        onToken: (tokens) => {
          generatedTokens += tokens.length;
        },
      });
      completion.dispose();
      return {
        text,
        promptTokens: promptTokens.length,
        generatedTokens,
        durationMs: performance.now() - started,
      };
    } finally {
      await context.dispose();
    }
  } catch (error) {
    throw toResponseError(error);
  }
});

connection.onShutdown(async () => {
  await engine.dispose();
});

process.on("uncaughtException", (error) => log.error(`Uncaught exception: ${error.stack ?? error.message}`));
process.on("unhandledRejection", (reason) => log.error(`Unhandled rejection: ${errorMessage(reason)}`));

documents.listen(connection);
connection.listen();
