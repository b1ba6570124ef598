// The window of a huge (unsynced) document sent with an inline completion request (common/protocol/completion.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { completionWindow, completionWindowChars, completionWindowGrid } from "../../common/protocol";

describe("completion window of an unsynced document", () => {
  const text = "x".repeat(3_000_000);

  it("is bounded both ways and holds the cursor", () => {
    for (const offset of [0, 10, 70_000, 1_500_001, text.length - 5, text.length]) {
      const { start, end } = completionWindow(text, offset);
      assert.ok(start <= offset && offset <= end, `${offset} in [${start}, ${end}]`);
      assert.ok(end - start <= completionWindowChars.before + completionWindowGrid + completionWindowChars.after);
      assert.ok(offset - start >= Math.min(offset, completionWindowChars.before), "the whole prefix window is sent");
      assert.equal(start % completionWindowGrid, 0, "grid-aligned");
    }
  });

  it("keeps its start while the user types on, so the server can reuse its KV cache", () => {
    const first = completionWindow(text, 1_500_001);
    let kept = 0;
    for (let typed = 1; typed < 64; typed++) if (completionWindow(text, 1_500_001 + typed).start === first.start) kept++;
    assert.ok(kept >= 60, `${kept} of 63 keystrokes kept the start`);
  });
});
