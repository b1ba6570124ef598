// The error codes StreamSink's server answers with (JSON-RPC / LSP ResponseError codes), and the one
// way to turn a thrown value into text. Pure: imported by the client, the server and the webviews.

/** Codes of ResponseError; the client explains each to the user. */
export const ErrorCodes = {
  /** No model is loaded (none configured, still loading, or failed to load). */
  modelNotReady: -32_001,
  /** The chat is still answering the previous message (one answer at a time). */
  chatBusy: -32_002,
  /** The request's parameters are invalid (JSON-RPC InvalidParams). */
  invalidParams: -32_602,
  /** The request failed inside the server (JSON-RPC InternalError). */
  internalError: -32_603,
  /** The request was cancelled (LSP RequestCancelled). */
  requestCancelled: -32_800,
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The message of a thrown value (an Error's message, anything else as text). */
export function errorMessage(error: unknown): string {
  // node-llama-cpp's DisposedError: the model or context went away under a running request.
  if (error instanceof Error && (error.name === "DisposedError" || error.message === "Object is disposed")) {
    return "the model was reloaded or changed while this request ran (new settings or another model were applied); try again";
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
