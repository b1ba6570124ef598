// Chat view benchmark: the real chat page (src/chat/html.ts + the src/webview/chat bundle, real CSS) in
// chromium, fed the message stream the extension posts for a conversation of N messages — made by
// the real extension side (ChatStore on disk + ChatViewSync): per turn the user message, the
// streaming answer, its state, its tokens, a window move, the finished answer and its state.
//
//   npm run bench:chatview -- --messages 10000 [--json] [--stream-kb 64]
//
// Prints a table and, last, one JSON line:
//   {"messages","domNodes","msPerUpdate":{"at100","at10000"},"ratio","streamFrameMs","streamFrameMsMax","streamFrames"}
// msPerUpdate: page time per message from the extension (script, the animation frame that renders
// it, and layout), median over the 10 turns ending at message 100 and at the last message; ratio =
// at10000 / at100. domNodes: elements in the page after the last message. streamFrameMs: the 95th
// percentile of the page's work per frame (message handling + render + layout) while a 64 KB
// Markdown answer streams into the chat at 64 characters per frame; streamFrameMsMax: the slowest
// frame (on a shared machine: garbage collection and scheduling stalls included).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { maxOf } from "../common/arrays";
import type { ToWebview } from "../common/chatMessages";
import { ChatStore, FolderStorage } from "../src/chat/store";
import { ChatViewSync } from "../src/chat/viewSync";
import { openChatPage, windowState } from "../test/support/chatPage";
import { chromiumPath, launchChromium } from "../test/support/chromium";
import { flag, int, machine, parseArgs, percentile, round, table } from "./cli";

const server = { state: "ready" as const, message: "tinycoder is ready on cpu.", modelName: "tinycoder" };

/** A realistic answer of about `chars` characters: prose, a list, code with and without a language. */
function answerText(turn: number, chars: number): string {
  const parts: string[] = [];
  let i = 0;
  while (parts.join("").length < chars) {
    const k = turn + i++;
    switch (k % 4) {
      case 0:
        parts.push(`The function walks the list once and keeps a **running total** of item ${k}; see \`total += x\` below.\n\n`);
        break;
      case 1:
        parts.push(`- first, read the input\n- then parse field ${k}\n- finally return the result\n\n`);
        break;
      case 2:
        parts.push("```python\n" + `def step_${k}(xs):\n    total = 0\n    for x in xs:\n        total += x * ${k}\n    return total\n` + "```\n\n");
        break;
      default:
        parts.push("```\n" + `const value${k} = items.filter((item) => item.id !== ${k}).map((item) => item.name);\n` + "```\n\n");
    }
  }
  return parts.join("").slice(0, chars);
}

/** Delivers `batch` and waits for the frame that renders it; returns the page's work in ms (script + frame + layout). */
function timed(page: Page, batch: ToWebview[]): Promise<number> {
  return page.evaluate(async (messages) => {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    let frameStart = 0;
    requestAnimationFrame(() => (frameStart = performance.now()));
    const t0 = performance.now();
    for (const data of messages) window.dispatchEvent(new MessageEvent("message", { data }));
    const script = performance.now() - t0;
    const frame = await new Promise<number>((resolve) =>
      requestAnimationFrame(() => {
        void document.getElementById("transcript")!.scrollHeight; // layout
        resolve(performance.now() - frameStart);
      }),
    );
    return script + frame;
  }, batch);
}

function untimed(page: Page, batch: ToWebview[]): Promise<void> {
  return page.evaluate((messages) => {
    for (const data of messages) window.dispatchEvent(new MessageEvent("message", { data }));
  }, batch);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const total = int(args, "messages", 10_000);
  const streamKb = int(args, "stream-kb", 64);
  const json = flag(args, "json");
  const say = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };
  if (total < 120) throw new Error("--messages must be at least 120 (the first measurement is at message 100).");

  const folder = await mkdtemp(path.join(tmpdir(), "streamsink-bench-chatview-"));
  const browser = await launchChromium();
  try {
    const store = await ChatStore.open(new FolderStorage(folder), { saveDelayMs: 300 });
    const outbox: ToWebview[] = [];
    const sync = new ChatViewSync(store, (message) => outbox.push(message));
    const page = await openChatPage(browser);
    const chat = store.create();
    const chrome = (streamingId?: string) => ({ attachments: [], server, ...(streamingId ? { streamingId } : {}) });
    sync.postState(chat, chrome());
    await sync.postNewest(chat.id);
    await untimed(page, outbox.splice(0));

    const samples = { at100: [] as number[], atEnd: [] as number[] };
    let pending: ToWebview[] = [];
    let shifts = 0;
    for (let turn = 0; store.count(chat.id) < total; turn++) {
      const userId = `u${turn}`;
      const answerId = `a${turn}`;
      store.addMessage(chat.id, { id: userId, role: "user", text: `Question ${turn}: how do I sum the items of list ${turn}?`, status: "done", createdAt: turn });
      store.addMessage(chat.id, { id: answerId, role: "assistant", text: "", status: "streaming", model: "tinycoder", createdAt: turn });
      sync.postMessage(chat.id, userId);
      sync.postMessage(chat.id, answerId);
      sync.postState(chat, chrome(answerId));
      const answer = answerText(turn, 240);
      for (let at = 0; at < answer.length; at += 12) {
        const delta = answer.slice(at, at + 12);
        store.appendText(chat.id, answerId, delta);
        sync.postToken(chat.id, answerId, delta);
      }
      // The window moves as the model's context fills: the oldest messages leave it.
      const count = store.count(chat.id);
      const first = Math.max(0, count - 12);
      const firstId = first % 2 === 0 ? `u${first / 2}` : `a${(first - 1) / 2}`;
      sync.postWindow(windowState(chat.id, firstId, first, ++shifts));
      store.updateMessage(chat.id, answerId, { status: "done" });
      sync.postMessage(chat.id, answerId);
      sync.postState(chat, chrome());
      const batch = outbox.splice(0);
      const measured = (count > 80 && count <= 100) || count > total - 20;
      if (measured) {
        await untimed(page, pending);
        pending = [];
        const ms = await timed(page, batch);
        (count <= 100 ? samples.at100 : samples.atEnd).push(ms / batch.length);
      } else {
        pending.push(...batch);
        if (pending.length > 2_000) {
          await untimed(page, pending);
          pending = [];
        }
      }
      if (count % 1000 === 0) say(`… ${count} messages`);
    }
    await untimed(page, pending);
    await store.flush();
    const domNodes = await page.evaluate(() => document.getElementsByTagName("*").length);
    const rendered = await page.evaluate(() => document.querySelectorAll("#transcript .message").length);

    // A long answer streamed into the long chat, 64 characters per frame.
    const streamId = "a-stream";
    store.addMessage(chat.id, { id: "u-stream", role: "user", text: "Write the whole module.", status: "done", createdAt: 0 });
    store.addMessage(chat.id, { id: streamId, role: "assistant", text: "", status: "streaming", model: "tinycoder", createdAt: 0 });
    sync.postMessage(chat.id, "u-stream");
    sync.postMessage(chat.id, streamId);
    sync.postState(chat, chrome(streamId));
    await untimed(page, outbox.splice(0));
    const long = answerText(7, streamKb * 1024);
    const frames: number[] = [];
    for (let at = 0; at < long.length; at += 64) {
      sync.postToken(chat.id, streamId, long.slice(at, at + 64));
      frames.push(await timed(page, outbox.splice(0)));
    }
    const streamedChars = await page.evaluate(
      (id) => document.querySelector(`#transcript .message[data-id="${id}"] .message-body`)?.textContent?.length ?? 0,
      streamId,
    );

    const median = (values: number[]) => percentile(values, 50);
    const at100 = round(median(samples.at100), 4);
    const atEnd = round(median(samples.atEnd), 4);
    const out = {
      messages: store.count(chat.id) - 2,
      domNodes,
      msPerUpdate: { at100, [`at${total}`]: atEnd } as Record<string, number>,
      ratio: round(atEnd / at100, 3),
      streamFrameMs: round(percentile(frames, 95), 2),
      streamFrameMsMax: round(maxOf(frames), 2),
      streamFrames: frames.length,
    };
    const m = machine();
    say(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memGB} GB, Node ${m.node}; ${chromiumPath}`);
    say(
      table(
        ["metric", "value"],
        [
          ["messages", out.messages],
          ["messages rendered in the DOM / elements in the page", `${rendered} / ${domNodes}`],
          ["ms per update at message 100 (median of 10 turns)", at100],
          [`ms per update at message ${total}`, atEnd],
          ["ratio", out.ratio],
          [`streamed answer: ${streamKb} KB in ${frames.length} frames, p95 frame ms`, out.streamFrameMs],
          ["streamed answer: slowest frame ms", out.streamFrameMsMax],
          ["streamed answer: median frame ms", round(percentile(frames, 50), 2)],
          ["streamed answer: characters shown", streamedChars],
        ],
      ),
    );
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await browser.close();
    await rm(folder, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
