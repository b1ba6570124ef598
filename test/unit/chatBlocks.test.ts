// How a message body is cut into Markdown blocks for block-by-block rendering
// (src/webview/chat/blocks.ts): lossless, fences kept whole (open ones marked), prose bounded, and a
// growing text only ever changes its last blocks — what keeps a streamed answer cheap per frame.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { maxBlockChars, splitBlocks } from "../../src/webview/chat/blocks";

const sample = [
  "Intro paragraph with **bold**.\n\n",
  "- one\n- two\n\n",
  "```python\ndef f(x):\n\n    return x\n```\n",
  "After the code.\n",
  "~~~\nno language\n~~~\n\n",
  "Tail without newline",
].join("");

describe("chat body blocks", () => {
  it("cuts at blank lines and fences, loses nothing, keeps a fence with blank lines whole", () => {
    const blocks = splitBlocks(sample);
    assert.equal(blocks.map((b) => b.text).join(""), sample);
    const fences = blocks.filter((b) => b.fence);
    assert.deepEqual(
      fences.map((b) => [b.fence!.language, b.fence!.code, b.fence!.closed]),
      [
        ["python", "def f(x):\n\n    return x\n", true],
        ["", "no language\n", true],
      ],
    );
    assert.equal(blocks[0]!.text, "Intro paragraph with **bold**.\n\n");
  });

  it("marks a fence that is still streaming as open", () => {
    const blocks = splitBlocks("Text\n\n```ts\nconst a = 1;\nconst b");
    assert.deepEqual(blocks.at(-1)!.fence, { language: "ts", code: "const a = 1;\nconst b", closed: false });
  });

  it("bounds a block of prose without blank lines", () => {
    const text = Array.from({ length: 400 }, (_, i) => `line ${i} of a long paragraph`).join("\n");
    const blocks = splitBlocks(text);
    assert.equal(blocks.map((b) => b.text).join(""), text);
    for (const block of blocks) assert.ok(block.text.length <= maxBlockChars + 40, `${block.text.length} chars`);
  });

  it("as text grows, only the last block changes", () => {
    let previous = splitBlocks("");
    for (let end = 1; end <= sample.length; end++) {
      const next = splitBlocks(sample.slice(0, end));
      for (let i = 0; i < previous.length - 1; i++) assert.equal(next[i]!.text, previous[i]!.text, `block ${i} changed at ${end}`);
      previous = next;
    }
  });
});

describe("stable points of a growing text", () => {
  it("are after blank lines outside fences and after closing fences, never inside a fence", async () => {
    const { stablePrefix } = await import("../../src/webview/chat/blocks");
    assert.equal(stablePrefix("para\n\nmore"), 6);
    assert.equal(stablePrefix("```py\nx\n\ny\n"), 0, "a blank line inside an open fence is no stable point");
    assert.equal(stablePrefix("```py\nx\n```\nafter"), 12);
    assert.equal(stablePrefix("no newline"), 0);
  });
});
