// The chat view's page (src/chat/html.ts + media/chat/main.ts) in a real DOM: Debian chromium
// through playwright-core, fed the same typed `state` messages the extension sends. How each
// finished answer ends is visible to the user: Stopped, the error, or — for an answer the model
// ended before writing anything — a note instead of an empty bubble; code written without a fence
// shows as a code block with Copy and Insert.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { ViewMessage, ViewState } from "../../common/chatMessages";
import { chatHtml } from "../../src/chat/html";
import { launchChromium, pageBundle, skipWithoutChromium } from "../support/chromium";

function state(messages: ViewMessage[]): ViewState {
  return {
    chats: [{ id: "c1", title: "Test", updatedAt: 1, messageCount: messages.length }],
    chatId: "c1",
    title: "Test",
    messages,
    attachments: [],
    server: { state: "ready", message: "tinycoder is ready on cpu.", modelName: "tinycoder" },
  };
}

const message = (id: string, role: ViewMessage["role"], text: string, status: ViewMessage["status"], error?: string): ViewMessage => ({
  id,
  role,
  text,
  attachments: [],
  pinned: false,
  status,
  ...(error ? { error } : {}),
});

describe("chat view in a real DOM (chromium)", { skip: skipWithoutChromium }, () => {
  let browser: Browser;
  let page: Page;

  before(async () => {
    const bundle = await pageBundle("media/chat/main.ts");
    // The page's own Content Security Policy allows only the nonce'd script that VS Code would
    // load; the test injects the bundle instead, so it bypasses the CSP (the sanitizer tests in
    // chatRender.test.ts run without one on purpose).
    const webview = { cspSource: "https://webview.test", asWebviewUri: (uri: string) => uri } as unknown as Parameters<typeof chatHtml>[0];
    const html = chatHtml(webview, "https://webview.test/media" as never, ((base: string, ...parts: string[]) => [base, ...parts].join("/")) as never);
    browser = await launchChromium();
    const context = await browser.newContext({ bypassCSP: true });
    page = await context.newPage();
    await page.route("https://webview.test/**", (route) => route.fulfill({ status: 404, body: "" }));
    await page.setContent(html);
    await page.addScriptTag({
      content: "window.__posted = []; window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), getState: () => undefined, setState: () => undefined });",
    });
    await page.addScriptTag({ content: bundle });
  });

  after(async () => {
    await browser?.close();
  });

  async function show(view: ViewState) {
    await page.evaluate((data) => window.postMessage({ type: "state", state: data }, "*"), view);
    await page.waitForFunction((count) => document.querySelectorAll("#transcript .message").length === count, view.messages.length);
    return page.evaluate(() =>
      Array.from(document.querySelectorAll("#transcript .message")).map((article) => ({
        body: (article.querySelector(".message-body")?.textContent ?? "").trim(),
        note: (article.querySelector(".message-note")?.textContent ?? "").trim(),
        codeBlocks: article.querySelectorAll(".code-block").length,
      })),
    );
  }

  it("says so when the model ended an answer without any text, and only then", async () => {
    const shown = await show(
      state([
        message("u1", "user", "Write a stack class.", "done"),
        message("a1", "assistant", "\n\n  \n", "done"),
        message("u2", "user", "Again?", "done"),
        message("a2", "assistant", "A stack is last in, first out.", "done"),
        message("u3", "user", "Longer?", "done"),
        message("a3", "assistant", "Partial", "cancelled"),
        message("u4", "user", "And?", "done"),
        message("a4", "assistant", "", "error", "The server stopped."),
      ]),
    );
    assert.match(shown[1]!.note, /^The model ended its answer without any text\. Send again or rephrase\.$/);
    assert.equal(shown[3]!.note, "", "an answer with text has no note");
    assert.equal(shown[5]!.note, "Stopped");
    assert.equal(shown[7]!.note, "The server stopped.", "an error shows the error, not the empty-answer note");
    assert.equal(shown[0]!.note, "", "user messages have no note");
  });

  it("shows code the model wrote without a fence as a code block, indentation intact", async () => {
    const code = "def push(self, item):\n    self.items.append(item)";
    const shown = await show(state([message("u1", "user", "Write push.", "done"), message("a1", "assistant", `Here is push:\n${code}`, "done")]));
    assert.equal(shown[1]!.codeBlocks, 1);
    assert.ok(shown[1]!.body.includes("    self.items.append(item)"), `indentation kept: ${JSON.stringify(shown[1]!.body)}`);
  });
});
