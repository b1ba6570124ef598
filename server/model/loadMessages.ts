// The words a user sees when a model load fails for another reason than our own file checks:
// JavaScript errors from inside a library never reach them as such, and llama.cpp's own reason
// (from its log) is shown when there is one.
import type { Settings } from "../../common/settings";
import { errorMessage } from "../log";
import { ModelFileError } from "./modelFile";
import { LoadAbortedError } from "./loadControl";

/** JavaScript errors from inside a library (a TypeError on odd metadata…) are not messages for users. */
function isInternalError(error: unknown): boolean {
  return error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError || error instanceof ReferenceError;
}

/** The message for a load that failed for another reason than our own checks. */
export function loadFailureMessage(modelPath: string, error: unknown, llamaSays?: string): string {
  if (error instanceof ModelFileError || error instanceof LoadAbortedError) return error.message;
  if (isInternalError(error)) {
    return (
      `Could not load ${modelPath}: its metadata could not be read (the file is probably damaged, or made for a model ` +
      `llama.cpp does not support). Download it again or pick another model.`
    );
  }
  const detail = llamaSays ? ` (llama.cpp: ${llamaSays.replace(/^.*error loading model:\s*/, "")})` : "";
  return (
    `Could not load ${modelPath}: ${errorMessage(error)}${detail}. Check that it is a valid GGUF model for llama.cpp, ` +
    `or try a smaller context size or streamsink.model.backend = "cpu".`
  );
}

/** Said with the ready status when `threads` was capped at the machine's cores. */
export function threadsNotice(settings: Settings, threads: number): string {
  return settings.threads !== "auto" && threads < settings.threads
    ? ` streamsink.threads (${settings.threads}) is above this machine's ${threads} logical cores: using ${threads}.`
    : "";
}

/** A restarted server refusing (once) the file whose load killed the previous server process. */
export function crashedLoadMessage(modelPath: string, startedAt: string): string {
  return (
    `The StreamSink server crashed while loading ${modelPath} (${startedAt}): llama.cpp could probably not handle ` +
    `this file, so it was not loaded again. Pick another model, or select this one again to retry.`
  );
}
