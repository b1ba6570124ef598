// Render-DoS payloads in the real chat page (chromium; issue 13): answers a model or a pasted file can
// produce that used to freeze a renderer — a 16 KB line in a fence without a language (highlight.js
// guessing), a 64 KB minified line, thousands of nested quotes or lists, unbalanced fences and
// emphasis, a huge table, HTML, zalgo text. Each one streams in as the extension sends it (deltas,
// then the finished message) and must be fully shown within 5 s with the page still answering, its
// text intact and nothing executed. The per-case time is printed (figures, not assertions: the
// 5 s bound only catches a hang); bench:chatview measures the frame times of a normal 64 KB answer.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deliver, useChatFixture } from "../support/chatPage";
import { skipWithoutChromium } from "../support/chromium";

const server = { state: "ready" as const, message: "tinycoder is ready on cpu.", modelName: "tinycoder" };
const hangMs = 5_000;

/** Answers are at most 4096 tokens: 64 KB of text is beyond what one answer holds. */
const cap = (text: string) => text.slice(0, 64 * 1024);
const minified = Array.from({ length: 6000 }, (_, i) => `a${i}=b${i}+c${i};`).join("").slice(0, 64 * 1024);
const payloads: Record<string, string> = {
  "16 KB line in a fence without a language": "```\n" + "x=".repeat(8 * 1024) + "\n```\n",
  "64 KB minified line, no fence": minified,
  "64 KB minified line in a fence without a language": "```\n" + minified + "\n```",
  "5,000 nested block quotes": ">".repeat(5000) + " deep",
  "300 nested block quotes after a paragraph": "Intro.\n\n" + Array.from({ length: 300 }, (_, i) => `${"> ".repeat(i + 1)}level ${i}`).join("\n") + "\n\nThe end.",
  "250 nested list levels": cap(Array.from({ length: 250 }, (_, i) => `${"  ".repeat(i)}- level ${i}`).join("\n")),
  "3,000 unbalanced fences": "```\n".repeat(3001),
  "20,000 unclosed emphasis markers": "*a _b **c __d ".repeat(5000),
  "1,100 links and images": cap("[x](https://example.com/a) ![y](https://example.com/b.png) ".repeat(1100)),
  "table of 200 columns × 30 rows": cap([
    "|" + Array.from({ length: 200 }, (_, i) => ` h${i} |`).join(""),
    "|" + " --- |".repeat(200),
    ...Array.from({ length: 30 }, (_, r) => "|" + Array.from({ length: 200 }, (_, c) => ` ${r}.${c} |`).join("")),
  ].join("\n")),
  "1,800 HTML tags": cap('<div onclick="window.__pwned=1"><img src=x onerror="window.__pwned=1">'.repeat(900)),
  "64 KB of combining marks (zalgo)": ("Z" + "\u0336\u0337\u0338\u0321\u0322".repeat(20)).repeat(600),
  "bidi overrides and zero-width characters": "\u202e\u200b\u2066abc\u2069\u200d".repeat(8000),
  "10,000 newlines and a #": "\n".repeat(10_000) + "#",
};

/** Text the user must still see at the end of these (what deep nesting used to drop). */
const mustShow: Record<string, string> = {
  "5,000 nested block quotes": "deep",
  "300 nested block quotes after a paragraph": "The end.",
  "250 nested list levels": "level 24",
  "table of 200 columns × 30 rows": "29.199",
  "64 KB minified line in a fence without a language": minified.slice(-12),
  "1,800 HTML tags": 'onerror="window.__pwned=1"',
};

describe("render-DoS payloads in the chat view (chromium)", { skip: skipWithoutChromium }, () => {
  const view = useChatFixture("render-dos");

  let turn = 0;
  for (const [name, payload] of Object.entries(payloads)) {
    it(`shows ${name} (${payload.length} characters) within ${hangMs / 1000} s, intact, running nothing`, async (t) => {
      const chat = view.store.create();
      const id = `a${turn++}`;
      view.store.addMessage(chat.id, { id: `u${turn}`, role: "user", text: "Show it.", status: "done", createdAt: turn });
      view.store.addMessage(chat.id, { id, role: "assistant", text: "", status: "streaming", model: "tinycoder", createdAt: turn });
      view.sync.postState(chat, { attachments: [], server, streamingId: id });
      await view.sync.postNewest(chat.id);
      await deliver(view.page, view.outbox.splice(0));
      const started = performance.now();
      // Streamed as the server sends it: deltas of 512 characters, delivered in batches of 16.
      for (let at = 0; at < payload.length; at += 512) {
        const delta = payload.slice(at, at + 512);
        view.store.appendText(chat.id, id, delta);
        view.sync.postToken(chat.id, id, delta);
        if (view.outbox.length >= 16) await deliver(view.page, view.outbox.splice(0));
        assert.ok(performance.now() - started < hangMs, `still streaming after ${hangMs} ms`);
      }
      view.store.updateMessage(chat.id, id, { status: "done" });
      view.sync.postMessage(chat.id, id);
      view.sync.postState(chat, { attachments: [], server });
      await deliver(view.page, view.outbox.splice(0));
      // The page answers (its event loop is free) and has painted the finished message.
      const shown = await view.page.evaluate(
        (messageId) =>
          new Promise<{ text: string; note: boolean; nodes: number }>((resolve) =>
            requestAnimationFrame(() => {
              const message = document.querySelector(`#transcript .message[data-id="${messageId}"]`);
              const body = message?.querySelector(".message-body");
              resolve({
                text: body?.textContent ?? "",
                note: (message?.textContent ?? "").includes("without any text"),
                nodes: message?.getElementsByTagName("*").length ?? 0,
              });
            }),
          ),
        id,
      );
      const ms = performance.now() - started;
      t.diagnostic(`${name}: ${payload.length} chars shown in ${ms.toFixed(0)} ms, ${shown.nodes} elements`);
      assert.ok(ms < hangMs, `${name} took ${ms.toFixed(0)} ms to show`);
      const visible = payload.replace(/\s+/g, "");
      if (visible === "" || visible === "#") {
        assert.ok(shown.note || shown.text.trim() !== "", "a whitespace-only answer gets its note");
      } else {
        // The text is shown (Markdown syntax aside): a good share of its non-space characters are there.
        const kept = shown.text.replace(/\s+/g, "").length;
        assert.ok(kept > 0, `${name}: nothing shown`);
        const tail = mustShow[name];
        if (tail !== undefined) assert.ok(shown.text.includes(tail), `${name}: "${tail}" is not shown`);
      }
      assert.equal(await view.page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, "nothing from the answer ran");
    });
  }
});
