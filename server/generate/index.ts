// `streamsink/generate`: a plain continuation of a prompt on a context of its own (the client's
// Continue at Cursor, benches and tests). No StreamingLLM sequence: the context lives for one request.
import { ResponseError } from "vscode-languageserver/node";
import type { Disposable } from "../../common/disposable";
import { ErrorCodes, GenerateRequest, type GenerateParams, type GenerateResult } from "../../common/protocol";
import { check, int, number, object, optional, string, withMessage } from "../../common/validate";
import { abortSignalFor } from "../cancellation";
import { ModelNotReadyError } from "../engine";
import type { ServerContext } from "../feature";
import { errorMessage } from "../log";

const generateParams = withMessage(
  object({ prompt: string(1_000_000), maxTokens: int(1, 4096), temperature: optional(number(0, 2)) }),
  "streamsink/generate needs {prompt: string of at most 1,000,000 characters, maxTokens: 1..4096, temperature?: 0..2}.",
);

function toResponseError(error: unknown): ResponseError<void> {
  if (error instanceof ResponseError) return error;
  if (error instanceof ModelNotReadyError) return new ResponseError(ErrorCodes.modelNotReady, error.message);
  return new ResponseError(ErrorCodes.internalError, errorMessage(error));
}

export function register({ connection, engine }: ServerContext): Disposable {
  return connection.onRequest(GenerateRequest.type, async (raw, token): Promise<GenerateResult> => {
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
        return { text, promptTokens: promptTokens.length, generatedTokens, durationMs: performance.now() - started };
      } finally {
        await context.dispose();
      }
    } catch (error) {
      throw toResponseError(error);
    }
  });
}
