// `streamsink/generate`: a plain continuation of a prompt on a context of its own (the client's
// Continue at Cursor, benches and tests). No StreamingLLM sequence: the context lives for one request.
import { ResponseError } from "vscode-languageserver/node";
import { DisposableStore, type Disposable } from "../../common/disposable";
import { ErrorCodes, GenerateRequest, type GenerateParams, type GenerateResult } from "../../common/protocol";
import { check, int, number, object, optional, string, withMessage } from "../../common/validate";
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

/** Why a request ended because the model went away under it (the client shows this in words). */
const reloaded = "the model was reloaded or changed while this request ran (new settings or another model were applied); try again";

export function register({ connection, engine }: ServerContext): Disposable {
  const store = new DisposableStore();
  /** Requests generating now: stopped (and awaited) before the engine disposes their contexts. */
  const running = new Set<{ controller: AbortController; unloading: boolean; done: Promise<unknown> }>();
  store.add(
    engine.addListener({
      modelUnloading: async () => {
        for (const request of running) {
          request.unloading = true;
          request.controller.abort();
        }
        await Promise.all([...running].map((request) => request.done));
      },
    }),
  );
  store.add(
    connection.onRequest(GenerateRequest.type, async (raw, token): Promise<GenerateResult> => {
      const checked = check(generateParams, raw);
      if (!checked.ok) throw new ResponseError(ErrorCodes.invalidParams, checked.message);
      const params: GenerateParams = checked.value;
      const controller = new AbortController();
      const cancellation = token.onCancellationRequested(() => controller.abort());
      if (token.isCancellationRequested) controller.abort();
      let release!: () => void;
      const request = { controller, unloading: false, done: new Promise<void>((resolve) => (release = resolve)) };
      running.add(request);
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
            signal: controller.signal,
            stopOnAbortSignal: true,
            onToken: (tokens) => {
              generatedTokens += tokens.length;
            },
          });
          completion.dispose();
          // Stopped for a reload: the text so far would be cut at a random point; say why instead.
          if (request.unloading) throw new ResponseError(ErrorCodes.modelNotReady, `Generation stopped: ${reloaded}.`);
          return { text, promptTokens: promptTokens.length, generatedTokens, durationMs: performance.now() - started };
        } finally {
          await context.dispose();
        }
      } catch (error) {
        // Aborted for a reload (while its prompt was evaluated, or in between): say why, in words.
        if (request.unloading && !(error instanceof ResponseError)) {
          throw new ResponseError(ErrorCodes.modelNotReady, `Generation stopped: ${reloaded}.`);
        }
        throw toResponseError(error);
      } finally {
        cancellation.dispose();
        running.delete(request);
        release();
      }
    }),
  );
  return store;
}
