// Prompt building is pure: the tokenizer is an argument. These tests pass a simple word-level
// tokenizer (every run of word characters, every other character one token) so token counts are
// easy to reason about; the real tokenizer is exercised in test/model/completion.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildPrompt, lineStartWithin, maxCharsPerToken, reanchorFill, type PromptOptions } from "../../server/completion/prompt";

const vocabulary = new Map<string, number>();
function tokenize(text: string): number[] {
  return (text.match(/\w+|[^\w]/g) ?? []).map((piece) => {
    if (!vocabulary.has(piece)) vocabulary.set(piece, 1000 + vocabulary.size);
    return vocabulary.get(piece)!;
  });
}
const fim = { prefix: 1, suffix: 2, middle: 3 };
const BOS = 0;

function options(text: string, offset: number, extra: Partial<PromptOptions> = {}): PromptOptions {
  return { text, offset, tokenize, bos: BOS, fim, budget: 200, maxSuffixTokens: 16, ...extra };
}

function commonPrefix(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** n lines of ~10 tokens each. */
function lines(n: number): string {
  return Array.from({ length: n }, (_, i) => `    value_${i} = compute(a, b)\n`).join("");
}

describe("completion prompt", () => {
  it("FIM: BOS <PRE> prefix <SUF> suffix <MID>", () => {
    const text = "def f(a):\n    return a\n";
    const offset = text.indexOf("return");
    const prompt = buildPrompt(options(text, offset));
    assert.equal(prompt.mode, "fim");
    assert.deepEqual(prompt.tokens, [BOS, 1, ...tokenize(text.slice(0, offset)), 2, ...tokenize(text.slice(offset)), 3]);
    assert.equal(prompt.anchor, 0);
  });

  it("prefix only when the model has no FIM tokens, and no BOS when the model wants none", () => {
    const text = "Once upon a time";
    const prompt = buildPrompt(options(text, text.length, { fim: null, bos: null }));
    assert.equal(prompt.mode, "prefix");
    assert.deepEqual(prompt.tokens, tokenize(text));
    assert.equal(prompt.suffixTokens, 0);
  });

  it("caps the suffix and always fits the budget", () => {
    const text = lines(40);
    const offset = text.indexOf("value_20");
    const prompt = buildPrompt(options(text, offset, { budget: 120 }));
    assert.equal(prompt.suffixTokens, 16);
    assert.ok(prompt.tokens.length <= 120, `${prompt.tokens.length} tokens`);
    // The prefix window starts at a line and ends at the cursor.
    assert.equal(prompt.anchor === 0 || text[prompt.anchor - 1] === "\n", true);
  });

  it("typing forward keeps the anchor, so consecutive prompts share all but the last tokens", () => {
    let text = lines(60) + "    result = ";
    let offset = text.length;
    text += "\n" + lines(3);
    const first = buildPrompt(options(text, offset, { budget: 150 }));
    assert.ok(first.anchor > 0, "a long file gets a window");
    let previous = first;
    for (const ch of "foo(") {
      text = text.slice(0, offset) + ch + text.slice(offset);
      offset += 1;
      const next = buildPrompt(options(text, offset, { budget: 150, anchor: previous.anchor }));
      assert.equal(next.anchor, first.anchor);
      assert.equal(next.reanchored, false);
      const shared = commonPrefix(previous.tokens, next.tokens);
      // Everything up to the cursor's last token(s) is shared; only the tail and the suffix change.
      assert.ok(shared >= 2 + previous.prefixTokens - 1, `shared ${shared} of ${previous.tokens.length}`);
      previous = next;
    }
  });

  it("re-anchors when the prefix outgrows the budget, leaving room to grow", () => {
    const text = lines(80);
    const offset = text.length;
    const prompt = buildPrompt(options(text, offset, { budget: 150, anchor: 0 }));
    assert.equal(prompt.reanchored, true);
    assert.ok(prompt.anchor > 0);
    const prefixBudget = 150 - 4 - prompt.suffixTokens;
    assert.ok(prompt.prefixTokens <= Math.floor(prefixBudget * reanchorFill), `${prompt.prefixTokens} prefix tokens`);
    assert.ok(prompt.prefixTokens >= prefixBudget * reanchorFill - 16, "uses the room it has (within one line)");
  });

  it("an anchor below the cursor (the user jumped up) or not at a line start is replaced", () => {
    const text = lines(10);
    const jumped = buildPrompt(options(text, 10, { anchor: 200 }));
    assert.equal(jumped.anchor, 0);
    const odd = buildPrompt(options(text, 100, { anchor: 3 }));
    assert.equal(odd.anchor, 0);
  });

  it("a single huge line keeps the last tokens before the cursor", () => {
    const text = "x = [" + "1, ".repeat(500);
    const prompt = buildPrompt(options(text, text.length, { budget: 100 }));
    assert.ok(prompt.tokens.length <= 100);
    assert.deepEqual(prompt.tokens.slice(-2), [fim.suffix, fim.middle], "nothing after the cursor");
    assert.equal(prompt.tokens.at(-3), tokenize(" ")[0], "the last prefix token is the one before the cursor");
  });

  it("a 5 MB one-line document: only a bounded window around the cursor is ever tokenized", () => {
    const text = "var a=function(b){return b+1};".repeat(Math.ceil((5 * 1024 * 1024) / 30));
    let longest = 0;
    const counting = (part: string) => {
      longest = Math.max(longest, part.length);
      return tokenize(part);
    };
    const budget = 200;
    for (const offset of [text.length, text.length >> 1]) {
      longest = 0;
      const first = buildPrompt(options(text, offset, { tokenize: counting, budget }));
      assert.ok(longest <= budget * maxCharsPerToken, `tokenized ${longest} characters at once`);
      assert.ok(first.tokens.length <= budget);
      assert.ok(first.prefixTokens > budget / 4, `the window is used (${first.prefixTokens} prefix tokens)`);
      // Typing forward on the long line keeps the (mid-line) anchor, so the KV cache is reused.
      const typed = text.slice(0, offset) + "x" + text.slice(offset);
      const next = buildPrompt(options(typed, offset + 1, { tokenize: counting, budget, anchor: first.anchor }));
      assert.equal(next.anchor, first.anchor);
      assert.equal(next.reanchored, false);
      assert.ok(longest <= budget * maxCharsPerToken, `tokenized ${longest} characters at once`);
    }
  });

  it("lineStartWithin finds the cursor's line start without looking past the floor", () => {
    assert.equal(lineStartWithin("ab\ncd", 5, 0), 3);
    assert.equal(lineStartWithin("abcdef", 5, 0), 0);
    assert.equal(lineStartWithin("abcdef", 5, 2), -1, "the line starts before the floor");
    assert.equal(lineStartWithin("ab\ncd", 5, 3), 3, "a floor on a line start");
  });
});
