// Which vocabulary tokens may never reach a chat answer's text. llama.cpp's detokenize without
// special tokens leaves out CONTROL tokens only: USER_DEFINED ones such as tinycoder's
// `<|fim_suffix|>` (and many models' FIM, tool and think markers) are rendered as text. So every
// token is classified once per model:
//   "stop": the answer ends here — end of generation, control, unknown/unused tokens, and
//           user-defined markers of another mode (fill-in-the-middle, end of text);
//   "hide": other user-defined markers (`<think>`, `<tool_call>`…): generation goes on, the text
//           leaves them out.
// The rule is pure (classifySpecialToken); specialTokensOf reads a loaded model's vocabulary.
import type { LlamaModel, Token } from "node-llama-cpp";

export interface VocabularyToken {
  /** The token's text with special tokens rendered (`detokenize([token], true)`). */
  text: string;
  eog: boolean;
  control: boolean;
  unknown: boolean;
  unused: boolean;
  userDefined: boolean;
}

/** A marker's shape: `<|fim_suffix|>`, `<｜fim▁hole｜>`, `<tool_call>`, `</think>`, `[INST]`. */
const markerShape = /^(?:<[|｜][^\s<>]*[|｜]>|<\/?[A-Za-z_][\w.:-]*>|\[\/?[A-Z][A-Z_]*\])$/;
/** Markers of another mode than chat: the answer is over when one is generated. */
const endMarker = /fim|endoftext|end_of_text|end_of_turn|im_end|eot|eos|pad/i;
/** Markers worth cutting even when the model spells them out token by token. */
const pipeMarker = /^<[|｜][^\s<>]+[|｜]>$/;

export function classifySpecialToken(token: VocabularyToken): "stop" | "hide" | undefined {
  if (token.eog || token.control || token.unknown || token.unused) return "stop";
  if (!token.userDefined || !markerShape.test(token.text)) return undefined;
  return endMarker.test(token.text) ? "stop" : "hide";
}

export interface SpecialTokens {
  /** Tokens that end the answer. */
  stop: Set<Token>;
  /** Tokens left out of the answer's text. */
  hide: Set<Token>;
  /** `<|…|>` marker texts, cut from the answer if the model spells one out with ordinary tokens. */
  texts: string[];
}

const cache = new WeakMap<LlamaModel, SpecialTokens>();

/** The special tokens of a loaded model's vocabulary (computed once per model: one pass over it). */
export function specialTokensOf(model: LlamaModel): SpecialTokens {
  const known = cache.get(model);
  if (known) return known;
  const result: SpecialTokens = { stop: new Set(), hide: new Set(), texts: [] };
  for (const token of model.iterateAllTokens()) {
    const attributes = model.getTokenAttributes(token);
    if (attributes.normal || attributes.byte) continue;
    const text = model.detokenize([token], true);
    const kind = classifySpecialToken({
      text,
      eog: model.isEogToken(token),
      control: attributes.control,
      unknown: attributes.unknown,
      unused: attributes.unused,
      userDefined: attributes.userDefined,
    });
    if (kind === undefined) continue;
    result[kind].add(token);
    if (pipeMarker.test(text)) result.texts.push(text);
  }
  cache.set(model, result);
  return result;
}
