// Which vocabulary tokens end a chat answer or are left out of its text.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifySpecialToken, type VocabularyToken } from "../../server/chat/specialTokens";

function token(text: string, overrides: Partial<VocabularyToken> = {}): VocabularyToken {
  return { text, eog: false, control: false, unknown: false, unused: false, userDefined: false, ...overrides };
}

describe("classifySpecialToken", () => {
  it("stops at end-of-generation, control, unknown and unused tokens", () => {
    assert.equal(classifySpecialToken(token("</s>", { eog: true, control: true })), "stop");
    assert.equal(classifySpecialToken(token("<s>", { control: true })), "stop");
    assert.equal(classifySpecialToken(token("<|im_start|>", { control: true })), "stop");
    assert.equal(classifySpecialToken(token("<unk>", { unknown: true })), "stop");
    assert.equal(classifySpecialToken(token("<extra_0>", { unused: true })), "stop");
  });

  it("stops at user-defined markers of another mode: fill-in-the-middle, end of text", () => {
    for (const text of ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<｜fim▁hole｜>", "<|endoftext|>", "<|eot_id|>"]) {
      assert.equal(classifySpecialToken(token(text, { userDefined: true })), "stop", text);
    }
  });

  it("hides other user-defined markers, keeps user-defined text tokens", () => {
    assert.equal(classifySpecialToken(token("<think>", { userDefined: true })), "hide");
    assert.equal(classifySpecialToken(token("</tool_call>", { userDefined: true })), "hide");
    assert.equal(classifySpecialToken(token("[INST]", { userDefined: true })), "hide");
    assert.equal(classifySpecialToken(token("    ", { userDefined: true })), undefined, "a whitespace run is text");
    assert.equal(classifySpecialToken(token("\n\n", { userDefined: true })), undefined);
    assert.equal(classifySpecialToken(token("<= x", { userDefined: true })), undefined);
  });

  it("never touches normal tokens, even ones that look like tags", () => {
    assert.equal(classifySpecialToken(token("def")), undefined);
    assert.equal(classifySpecialToken(token("<div>")), undefined);
  });
});
