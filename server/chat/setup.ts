// The one set-up of a chat's StreamingLLM sequence (new or resumed stream, server/chat/stream.ts).
import type { LlamaContext, Token, TokenPredictor } from "node-llama-cpp";
import type { ShiftCapability } from "../kv/shiftCapability";
import { StreamingSequence, type ShiftEvent } from "../kv/streamingSequence";

export interface StreamOptions {
  chatId: string;
  /** streamsink.context.sinkTokens: the sink region is at least this long. */
  minSinks: number;
  /** streamsink.context.shiftSize (0 = automatic). */
  shiftSize: number;
  capability: ShiftCapability;
  /** streamsink.speculative: the token predictor for the new sequence (server/kv/speculativeSetup.ts). */
  tokenPredictor?: (sinks: number) => Promise<TokenPredictor | undefined>;
}

export interface ChatSequence {
  sequence: StreamingSequence;
  /** Routes the sequence's shift events to `listener` (the stream, once it exists). */
  onShift(listener: (event: ShiftEvent) => void): void;
}

/**
 * A new sequence for a chat stream: sinks for the template preamble (at least minSinks), the
 * configured shift size, the token predictor; shift events go to the listener set with onShift.
 */
export async function openChatSequence(context: LlamaContext, preamble: readonly Token[], options: StreamOptions): Promise<ChatSequence> {
  let listener: ((event: ShiftEvent) => void) | undefined;
  const sinks = Math.max(options.minSinks, preamble.length);
  const sequence = await StreamingSequence.create(context, {
    sinks,
    shiftSize: options.shiftSize,
    capability: options.capability,
    label: "chat",
    onShift: (event) => listener?.(event),
    tokenPredictor: await options.tokenPredictor?.(sinks),
  });
  return { sequence, onShift: (next) => (listener = next) };
}
