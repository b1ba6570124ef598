// Step 3: inline completion. In a Python file of the workspace, typing `def fibonacci(n):` + Enter
// shows ghost text from the model (automatic trigger, no Alt+\), Tab accepts it, and the document
// then contains it.
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { editorText, openFile, runCommand, typeText, waitUntil, type Step } from "../harness";

const fileName = "fib.py";

/** The ghost text shown in the active editor: the inline part and the lines below it. */
async function ghostText(page: Page): Promise<string> {
  const editor = page.locator(".editor-group-container.active .monaco-editor").first();
  const inline = (await editor.locator(".ghost-text-decoration").allInnerTexts()).join("");
  // Lines after the first are drawn in a view zone below the cursor's line.
  const below = await editor
    .locator(".view-zones .view-line")
    .evaluateAll((lines) => lines.filter((line) => line.querySelector('[class*="ghost-text"]') || line.closest('[class*="ghost-text"]')).map((line) => line.textContent ?? ""));
  return [inline, ...below].join("\n").replace(/\u00a0/g, " ");
}

export const inlineCompletion: Step = {
  id: "inline-completion",
  title: "inline completion: ghost text appears in a Python file, Tab accepts it, the document contains it",
  async run(ctx) {
    const { page } = ctx;
    await openFile(page, fileName);
    await page.locator(".editor-group-container.active .monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+End");
    const typed = "def fibonacci(n):";
    await typeText(page, typed);
    // The editor shows what was typed before Enter goes in (a loaded machine lags behind the keys).
    await waitUntil(async () => (await editorText(page)) === typed, { timeoutMs: 10_000, what: `the editor to show ${JSON.stringify(typed)}` });
    await page.keyboard.press("Enter"); // Python's on-enter rule indents the body
    const before = await waitUntil(async () => {
      const text = await editorText(page);
      return /\n/.test(text) ? text : undefined;
    }, { timeoutMs: 10_000, what: "the new line after Enter" });
    ctx.log(`typed: ${JSON.stringify(before)}`);
    assert.match(before, /^def fibonacci\(n\):\n {4}$/, `unexpected text before the completion: ${JSON.stringify(before)}`);

    const ghost = await waitUntil(
      async () => {
        const text = await ghostText(page);
        return text.trim() !== "" ? text : undefined;
      },
      { timeoutMs: 60_000, what: "ghost text after typing", describe: async () => `editor: ${JSON.stringify(await editorText(page))}` },
    );
    ctx.log(`ghost text: ${JSON.stringify(ghost)}`);
    const zones = (await page.locator(".editor-group-container.active .monaco-editor .view-zones").first().innerHTML()).slice(0, 1500);
    await ctx.shot("ghost-text");

    await page.keyboard.press("Tab");
    const firstLine = ghost.split("\n")[0]!.trim();
    const after = await waitUntil(
      async () => {
        const text = await editorText(page);
        return text !== before && text.includes(firstLine) ? text : undefined;
      },
      { timeoutMs: 10_000, what: `the accepted suggestion ("${firstLine}") in the document`, describe: async () => `editor: ${JSON.stringify(await editorText(page))}` },
    );
    ctx.log(`after Tab: ${JSON.stringify(after)}`);
    if (after.split("\n").length > 2 + ghost.split("\n").length) ctx.log(`view zones while the ghost text showed: ${zones}`);
    assert.ok(after.startsWith(`${typed}\n    `), `the typed text changed: ${JSON.stringify(after)}`);
    // Every line of the suggestion is in the document, in order, right after the typed header.
    const accepted = after.slice(`${typed}\n`.length);
    const ghostLines = ghost.split("\n").map((l) => l.trim()).filter((l) => l !== "");
    const docLines = accepted.split("\n").map((l) => l.trim());
    let at = 0;
    for (const line of ghostLines) {
      const found = docLines.indexOf(line, at);
      assert.ok(found >= 0, `the suggestion's line ${JSON.stringify(line)} is not in the document: ${JSON.stringify(after)}`);
      at = found + 1;
    }
    await ctx.shot("accepted");

    // Leave the workspace as it was for the next step: revert the file and close it.
    await runCommand(page, "View: Revert and Close Editor");
    await waitUntil(async () => (await page.locator(`.tabs-container .tab[aria-label^="${fileName}"]`).count()) === 0, {
      timeoutMs: 10_000,
      what: `${fileName} to close`,
    });
  },
};
