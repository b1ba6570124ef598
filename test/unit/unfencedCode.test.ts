// Unfenced code in a model's answer is fenced before Markdown sees it, so its indentation and
// characters survive; prose, lists, quotes and code that is already fenced are left alone.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fenceUnfencedCode } from "../../src/webview/chat/unfencedCode";

/** Each text comes back exactly as it went in. */
function leftAlone(texts: readonly string[]): void {
  for (const text of texts) assert.equal(fenceUnfencedCode(text), text);
}

describe("fenceUnfencedCode", () => {
  it("fences indented Python written without a fence, keeping every space", () => {
    const code = "def area(r):\n    if r < 0:\n        raise ValueError(r)\n    return 3.14159 * r * r";
    assert.equal(fenceUnfencedCode(code), "```text\n" + code + "\n```");
  });

  it("fences JavaScript whose every line is code, even where nothing is indented", () => {
    const code = "const total = items.reduce((a, b) => a + b, 0);\nconsole.log(total);";
    assert.equal(fenceUnfencedCode(code), "```text\n" + code + "\n```");
  });

  it("fences a definition with an indented body even where its docstring is mostly prose", () => {
    const code = 'def fnmatch(name, pat):\n    """Test whether FILENAME matches PATTERN.\n    Patterns are Unix shell style:\n    - *  matches everything\n    An initial period is not special.'
    assert.equal(fenceUnfencedCode(code), "```text\n" + code + "\n```");
  });

  it("keeps an introducing sentence out of the fence", () => {
    const text = "Here is the function you asked for:\ndef __init__(self, x):\n    self.x = x";
    assert.equal(
      fenceUnfencedCode(text),
      "Here is the function you asked for:\n```text\ndef __init__(self, x):\n    self.x = x\n```",
    );
  });

  it("fences each code block between paragraphs of prose, and leaves the prose alone", () => {
    const text = [
      "The loop sums the list.",
      "",
      "total = 0",
      "for x in xs:",
      "    total += x",
      "",
      "It runs in linear time, and it uses constant memory.",
      "That is all there is to it.",
    ].join("\n");
    assert.equal(
      fenceUnfencedCode(text),
      [
        "The loop sums the list.",
        "",
        "```text",
        "total = 0",
        "for x in xs:",
        "    total += x",
        "```",
        "",
        "It runs in linear time, and it uses constant memory.",
        "That is all there is to it.",
      ].join("\n"),
    );
  });

  it("leaves prose, nested lists, quotes and tables as Markdown", () => {
    leftAlone([
      "Streaming keeps the first tokens.\nIt evicts the middle of the cache.",
      "- first item\n  - nested item (with a note)\n- second item",
      "1. build the project\n2. run the tests:\n   npm test",
      "> quoted line with code(x)\n> another = line",
      "| a | b |\n| --- | --- |\n| f(x) | = |",
      "one line of code();",
    ]);
  });

  it("leaves fenced code (even unclosed, while it streams) and indented code blocks untouched", () => {
    leftAlone([
      "```python\ndef f():\n    return 1\n```\nDone.",
      "~~~\nx = 1\n~~~",
      "Intro.\n\n```js\nconst a = 1;\nif (a) {\n  run();",
      "Intro.\n\n    x = 1\n    y = x + 1",
    ]);
  });

  it("does not open a fence inside a fenced block with a longer fence", () => {
    const text = "````md\n```\ninner\n```\n````\nx = f(1)\nprint(x)";
    assert.equal(fenceUnfencedCode(text), "````md\n```\ninner\n```\n````\n```text\nx = f(1)\nprint(x)\n```");
  });
});
