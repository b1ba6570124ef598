// The StreamSink protocol: every custom LSP message between the extension host (client) and the
// language server, one namespace per message, each with its method name, its typed message and a
// note saying which side sends it. Imported by both sides; never imports `vscode`.
import { NotificationType, RequestType } from "vscode-languageserver-protocol";
import type { Settings } from "./settings";

/** What the server is doing, for the status bar. */
export type ServerState = "starting" | "noModel" | "loading" | "ready" | "error";

export interface ServerStatus {
  state: ServerState;
  /** Human message: what happened and, on error, what to do about it. */
  message: string;
  /** Model file base name without extension, when a model is configured. */
  modelName?: string;
  modelPath?: string;
  /** Backend in use once loaded: "cuda" | "vulkan" | "metal" | "cpu". */
  backend?: string;
  /** GPU device names reported by llama.cpp (empty on CPU). */
  deviceNames?: string[];
  /** Model loading progress 0..1 while state is "loading". */
  progress?: number;
}

/** Sent by the server whenever its state changes (loading, ready, error). */
export namespace ServerStatusNotification {
  export const method = "streamsink/serverStatus" as const;
  export const type = new NotificationType<ServerStatus>(method);
}

/**
 * Sent by the client after start and whenever a setting changes: the whole sanitised settings
 * object. The server applies it (reloading the model or contexts when needed).
 */
export namespace ConfigureNotification {
  export const method = "streamsink/configure" as const;
  export const type = new NotificationType<Settings>(method);
}

export interface GenerateParams {
  prompt: string;
  /** Upper bound on generated tokens (1..4096). */
  maxTokens: number;
  /** Sampling temperature; 0 = greedy. */
  temperature?: number;
}

export interface GenerateResult {
  text: string;
  promptTokens: number;
  generatedTokens: number;
  durationMs: number;
}

/**
 * Sent by the client: a plain one-shot completion of `prompt` on a scratch sequence (the first
 * end-to-end request; chat and inline completions have their own messages). Cancellable.
 */
export namespace GenerateRequest {
  export const method = "streamsink/generate" as const;
  export const type = new RequestType<GenerateParams, GenerateResult, void>(method);
}

/** Error codes the server uses in ResponseError so the client can explain them. */
export const ErrorCodes = {
  /** No model is loaded (none configured, still loading, or failed to load). */
  modelNotReady: -32_001,
  /** The request's parameters are invalid. */
  invalidParams: -32_602,
} as const;
