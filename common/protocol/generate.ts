// A plain one-shot completion (streamsink/generate). Part of the StreamSink protocol.
import { RequestType } from "vscode-languageserver-protocol";

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
