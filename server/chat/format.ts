// Formats chat turns with the model's own chat template (node-llama-cpp chat wrappers), one NEW
// turn at a time, so the stream in the KV cache is exactly what the template would render for the
// whole conversation, while history is never rendered or tokenized again.
//
// How: a chat wrapper renders a whole history. The text a new user turn adds is the difference
// between render([system, user "x", model "x"]) and render([... , model "x", user U, model ""]):
// the closing of the previous answer, the user message, and the opening of the next answer. The
// previous answer itself is the model's own generated tokens, already in the cache.
//
// Models without a chat template (tinycoder, stories260K) use node-llama-cpp's GeneralChatWrapper
// ("### Human\n…\n\n### Assistant\n…"): node-llama-cpp's own resolver would guess a Llama 2 template
// from the architecture alone, which such a model has never seen either, and whose [INST] markers
// are less readable in a transcript. A template whose renders are not prefixes of each other (a
// self-check at start) also falls back to GeneralChatWrapper, with a logged reason.

import { appendAll } from "../../common/arrays";
import type { ChatHistoryItem, ChatWrapper, LlamaModel, LlamaText, LlamaTextJSONValue, Token } from "node-llama-cpp";
import type { LlamaCpp } from "../llamaRuntime";
import { specialTokensOf } from "./specialTokens";
import { errorMessage } from "../../common/errors";

export const defaultSystemPrompt =
  "You are StreamSink, a concise coding assistant running locally in the user's editor. " +
  "Answer in Markdown and put code in fenced code blocks with a language.";

/** Values of a LlamaText with adjacent strings merged. */
function valuesOf(text: LlamaText): LlamaTextJSONValue[] {
  const json = text.toJSON();
  const list = typeof json === "string" ? [json] : json;
  const merged: LlamaTextJSONValue[] = [];
  for (const value of list) {
    const last = merged[merged.length - 1];
    if (typeof value === "string" && typeof last === "string") merged[merged.length - 1] = last + value;
    else if (value !== "") merged.push(value);
  }
  return merged;
}

function sameSpecial(a: LlamaTextJSONValue, b: LlamaTextJSONValue): boolean {
  return typeof a !== "string" && typeof b !== "string" && a.type === b.type && a.value === b.value;
}

/**
 * The part of `full` after `prefix` (as LlamaText JSON values), or undefined when `prefix` is not a
 * prefix of `full`. Pure.
 */
export function llamaTextSuffix(prefix: readonly LlamaTextJSONValue[], full: readonly LlamaTextJSONValue[]): LlamaTextJSONValue[] | undefined {
  let i = 0;
  let offset = 0; // characters of full[i] already matched, when it is a string
  for (const value of prefix) {
    if (i >= full.length) return undefined;
    const target = full[i]!;
    if (typeof value === "string") {
      if (typeof target !== "string") return undefined;
      let rest = value;
      // A prefix string may span a string value of `full` only partly.
      while (rest.length > 0) {
        const current = full[i];
        if (typeof current !== "string") return undefined;
        const available = current.slice(offset);
        const n = Math.min(available.length, rest.length);
        if (available.slice(0, n) !== rest.slice(0, n)) return undefined;
        rest = rest.slice(n);
        offset += n;
        if (offset === current.length) {
          i++;
          offset = 0;
        }
      }
    } else {
      if (offset !== 0 || !sameSpecial(value, target)) return undefined;
      i++;
    }
  }
  const out: LlamaTextJSONValue[] = [];
  if (i < full.length) {
    const first = full[i]!;
    if (typeof first === "string") {
      if (first.slice(offset) !== "") out.push(first.slice(offset));
    } else out.push(first);
    appendAll(out, full.slice(i + 1));
  }
  return out;
}

/** Longest common prefix of two value lists (used for the template's fixed preamble). Pure. */
export function llamaTextCommonPrefix(a: readonly LlamaTextJSONValue[], b: readonly LlamaTextJSONValue[]): LlamaTextJSONValue[] {
  const out: LlamaTextJSONValue[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (typeof x === "string" && typeof y === "string") {
      let n = 0;
      while (n < x.length && n < y.length && x[n] === y[n]) n++;
      if (n > 0) out.push(x.slice(0, n));
      if (n < x.length || n < y.length) break;
    } else if (sameSpecial(x, y)) out.push(x);
    else break;
  }
  return out;
}

export interface StopRules {
  /**
   * Tokens that end the answer: the template's, plus every end-of-generation, control and
   * fill-in-the-middle token of the vocabulary (server/chat/specialTokens.ts).
   */
  tokens: Set<Token>;
  /** Texts that end the answer (the template's, and `<|…|>` markers spelled out); cut from the shown text. */
  texts: string[];
  /** Special tokens that are generated on but never shown (user-defined markers like `<think>`). */
  hidden: Set<Token>;
}

export class TurnFormatter {
  readonly wrapperName: string;
  /** Why the model's own template is not used, when it is not. */
  readonly fallbackReason: string | undefined;
  readonly stop: StopRules;
  private readonly wrapper: ChatWrapper;

  constructor(
    private readonly llamaCpp: LlamaCpp,
    private readonly model: LlamaModel,
    readonly systemPrompt: string = defaultSystemPrompt,
  ) {
    const metadata = model.fileInfo.metadata as unknown as { tokenizer?: { chat_template?: unknown } };
    const hasTemplate = typeof metadata.tokenizer?.chat_template === "string";
    let wrapper: ChatWrapper = hasTemplate ? llamaCpp.resolveChatWrapper(model) : new llamaCpp.GeneralChatWrapper();
    let reason = hasTemplate ? undefined : "the model has no chat template (tokenizer.chat_template)";
    const problem = this.selfCheck(wrapper);
    if (problem !== undefined) {
      reason = `its template (${wrapper.wrapperName}) ${problem}`;
      wrapper = new llamaCpp.GeneralChatWrapper();
    }
    this.wrapper = wrapper;
    this.wrapperName = wrapper.wrapperName;
    this.fallbackReason = reason;
    this.stop = this.stopRules();
  }

  /** BOS + system prompt + the template's fixed text before the first user message: the sinks. */
  preamble(): Token[] {
    const a = valuesOf(this.render([this.system(), { type: "user", text: "\u0001" }, { type: "model", response: [""] }]));
    const b = valuesOf(this.render([this.system(), { type: "user", text: "\u0002" }, { type: "model", response: [""] }]));
    return this.tokenize(llamaTextCommonPrefix(a, b), false);
  }

  /** The first user turn after the preamble, through the opening of the answer. */
  firstTurn(userText: string): Token[] {
    const a = valuesOf(this.render([this.system(), { type: "user", text: "\u0001" }, { type: "model", response: [""] }]));
    const b = valuesOf(this.render([this.system(), { type: "user", text: "\u0002" }, { type: "model", response: [""] }]));
    const pre = llamaTextCommonPrefix(a, b);
    const full = valuesOf(this.render([this.system(), { type: "user", text: userText }, { type: "model", response: [""] }]));
    const rest = llamaTextSuffix(pre, full);
    if (rest === undefined) throw new Error(`The ${this.wrapperName} template does not start with its own preamble.`);
    return this.tokenize(rest, true);
  }

  /**
   * A later user turn: closes the previous answer, adds the user message, opens the next answer.
   * `answerTail` is the end of the previous answer's text when it stopped on a stop text that is
   * already in the cache (e.g. "\n\n### Human"): the overlap is not appended twice.
   */
  nextTurn(userText: string, answerTail = ""): Token[] {
    const context: ChatHistoryItem[] = [this.system(), { type: "user", text: "x" }, { type: "model", response: ["x"] }];
    const before = valuesOf(this.render(context));
    const after = valuesOf(this.render([...context, { type: "user", text: userText }, { type: "model", response: [""] }]));
    let rest = llamaTextSuffix(before, after);
    if (rest === undefined) throw new Error(`The ${this.wrapperName} template changes earlier turns when a turn is added.`);
    if (answerTail !== "" && typeof rest[0] === "string" && rest[0].startsWith(answerTail)) {
      rest = [rest[0].slice(answerTail.length), ...rest.slice(1)].filter((value) => value !== "");
    }
    return this.tokenize(rest, true);
  }

  /** Generated answer tokens that become text: hidden special tokens (`<think>`…) are left out. */
  shownTokens(tokens: readonly Token[]): readonly Token[] {
    const { hidden } = this.stop;
    return hidden.size === 0 ? tokens : tokens.filter((token) => !hidden.has(token));
  }

  /** A whole earlier answer, for rebuilding a stream from stored history. */
  answer(text: string): Token[] {
    return this.model.tokenize(text, false, "trimLeadingSpace");
  }

  private system(): ChatHistoryItem {
    return { type: "system", text: this.systemPrompt };
  }

  private render(history: ChatHistoryItem[], wrapper: ChatWrapper = this.wrapper): LlamaText {
    return wrapper.generateContextState({ chatHistory: history }).contextText;
  }

  private tokenize(values: LlamaTextJSONValue[], continuing: boolean): Token[] {
    const text = this.llamaCpp.LlamaText.fromJSON(values);
    return continuing ? text.tokenize(this.model.tokenizer, "trimLeadingSpace") : text.tokenize(this.model.tokenizer);
  }

  /** Undefined when incremental rendering is exact for this wrapper, else what is wrong. */
  private selfCheck(wrapper: ChatWrapper): string | undefined {
    try {
      const system: ChatHistoryItem = { type: "system", text: this.systemPrompt };
      const one: ChatHistoryItem[] = [system, { type: "user", text: "a" }, { type: "model", response: ["b"] }];
      const two: ChatHistoryItem[] = [...one, { type: "user", text: "c" }, { type: "model", response: [""] }];
      const u1 = valuesOf(this.render([system, { type: "user", text: "\u0001" }, { type: "model", response: [""] }], wrapper));
      const u2 = valuesOf(this.render([system, { type: "user", text: "\u0002" }, { type: "model", response: [""] }], wrapper));
      if (llamaTextCommonPrefix(u1, u2).length === 0) return "has no fixed text before the first user message";
      if (llamaTextSuffix(valuesOf(this.render(one, wrapper)), valuesOf(this.render(two, wrapper))) === undefined) {
        return "re-renders earlier turns when a turn is added";
      }
      return undefined;
    } catch (error) {
      return `failed to render (${errorMessage(error)})`;
    }
  }

  private stopRules(): StopRules {
    const state = this.wrapper.generateContextState({
      chatHistory: [this.system(), { type: "user", text: "x" }, { type: "model", response: [""] }],
    });
    const tokens = new Set<Token>();
    const texts: string[] = [];
    for (const trigger of state.stopGenerationTriggers) {
      const values = valuesOf(trigger);
      if (values.every((value) => typeof value === "string")) {
        const text = values.join("");
        if (text !== "") texts.push(text);
        continue;
      }
      const ids = trigger.tokenize(this.model.tokenizer);
      if (ids.length === 1) tokens.add(ids[0]!);
    }
    const special = specialTokensOf(this.model);
    for (const token of special.stop) tokens.add(token);
    for (const text of special.texts) if (!texts.includes(text)) texts.push(text);
    return { tokens, texts, hidden: special.hide };
  }
}
