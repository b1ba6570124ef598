// Step 2: the chat view. Send a message and watch the answer stream in (its text grows across
// renders); Stop (the Stop button, then Escape) ends an answer early and leaves the input usable;
// a scripted conversation that overflows the context (streamsink.context.size = 256 for the whole
// run, see run.ts) several times still answers, and the older messages are shown as outside the
// model's window (dimmed, with the divider).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Frame } from "playwright-core";
import { lateStopLog } from "../../../common/chatMessages";
import { normalizeText, openActivity, waitUntil, webviewFrameWith, type Step, type StepContext } from "../harness";

/** What the chat's context meter says, e.g. "201 / 256 tokens in view · 5 shifts · 3 messages out of view · pinned 0 / 58". */
export interface MeterFigures {
  kvCells: number;
  contextSize: number;
  shifts: number;
  outsideMessages: number;
  text: string;
}

export function parseMeter(text: string): MeterFigures | undefined {
  const view = /([\d,]+) \/ ([\d,]+) tokens in view/.exec(text);
  const shifts = /([\d,]+) shifts?\b/.exec(text);
  if (!view || !shifts) return undefined;
  const num = (s: string) => Number(s.replace(/,/g, ""));
  const outside = /([\d,]+) messages? out of view/.exec(text);
  return { kvCells: num(view[1]!), contextSize: num(view[2]!), shifts: num(shifts[1]!), outsideMessages: outside ? num(outside[1]!) : 0, text };
}

/** The chat webview's frame (shows the StreamSink activity-bar container unless it is shown already: a click on the active item would hide it). */
export async function chatFrame(ctx: StepContext): Promise<Frame> {
  const shown = await ctx.page.locator('.activitybar .action-item.checked [aria-label^="StreamSink"]').count();
  if (shown === 0) await openActivity(ctx.page, "StreamSink");
  return await webviewFrameWith(ctx.page, "#transcript", 60_000);
}

export async function meterFigures(frame: Frame): Promise<MeterFigures | undefined> {
  const meter = frame.locator("#meter");
  if (await meter.isHidden()) return undefined;
  return parseMeter(normalizeText(await meter.innerText()));
}

const streaming = (frame: Frame) => frame.locator("#send.stop").count().then((n) => n > 0);
const lastAnswer = (frame: Frame) => frame.locator("#transcript .message.assistant").last();

async function answerCount(frame: Frame): Promise<number> {
  return await frame.locator("#transcript .message.assistant").count();
}

async function describeChat(frame: Frame): Promise<string> {
  const answers = await answerCount(frame);
  const last = answers > 0 ? normalizeText(await lastAnswer(frame).innerText()).slice(0, 160) : "";
  const notice = (await frame.locator("#notice").isVisible()) ? normalizeText(await frame.locator("#notice").innerText()) : "";
  const banner = (await frame.locator("#banner").isVisible()) ? normalizeText(await frame.locator("#banner").innerText()) : "";
  return `${answers} answers, streaming=${await streaming(frame)}, last answer "${last}"${notice ? `, notice "${notice}"` : ""}${banner ? `, banner "${banner}"` : ""}`;
}

/** Types `text` into the chat input and presses Enter; waits until the new answer is streaming or done. */
async function send(frame: Frame, text: string): Promise<void> {
  const before = await answerCount(frame);
  const input = frame.locator("#input");
  await input.fill(text);
  await input.press("Enter");
  await waitUntil(async () => (await answerCount(frame)) > before, {
    timeoutMs: 30_000,
    what: `the answer to "${text}" to start`,
    describe: () => describeChat(frame),
  });
  assert.equal(await input.inputValue(), "", "the input was not cleared after sending");
}

/** Waits until no answer streams; returns the last answer's text. */
async function answerDone(frame: Frame, what: string, timeoutMs = 120_000): Promise<string> {
  await waitUntil(async () => !(await streaming(frame)) && (await lastAnswer(frame).locator(".cursor").count()) === 0, {
    timeoutMs,
    what,
    describe: () => describeChat(frame),
  });
  return normalizeText(await lastAnswer(frame).locator(".message-body").innerText());
}

/**
 * Waits until the current answer streams and shows some text (so Stop interrupts a real answer),
 * or, with `orAfterMs`, has streamed that long without visible text (tinycoder sometimes writes
 * long runs of blank lines first: waiting for text then leaves too little of the answer to stop).
 * False when the answer ended first (a sampled answer can be empty: the model's end-of-turn first).
 */
async function answerStreaming(frame: Frame, orAfterMs = Infinity): Promise<boolean> {
  let streamingSince: number | undefined;
  let streams = false;
  await waitUntil(
    async () => {
      if (!(await streaming(frame))) return (await lastAnswer(frame).locator(".cursor").count()) === 0;
      streamingSince ??= Date.now();
      streams = Date.now() - streamingSince >= orAfterMs || normalizeText(await lastAnswer(frame).locator(".message-body").innerText()).length > 0;
      return streams;
    },
    { timeoutMs: 60_000, what: "the answer to stream its first tokens", describe: () => describeChat(frame) },
  );
  return streams;
}

/** How often the extension's log (the StreamSink output channel in the profile's logs) says a Stop arrived after its answer had ended. */
function lateStops(ctx: StepContext): number {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/StreamSink\.log$/.test(entry.name)) files.push(full);
    }
  };
  const logs = path.join(ctx.profile.userDataDir, "logs");
  if (fs.existsSync(logs)) walk(logs);
  return files.reduce((n, file) => n + fs.readFileSync(file, "utf8").split(lateStopLog).length - 1, 0);
}

/** Records, in the webview, whether each Stop gesture (a click on #send, Escape) arrived while the Stop button was shown. */
async function recordStopGestures(frame: Frame): Promise<void> {
  await frame.evaluate(() => {
    const g = globalThis as unknown as { __e2eStops: { kind: string; streaming: boolean; at: number }[]; __e2eEndedAt: number };
    g.__e2eStops = [];
    g.__e2eEndedAt = 0;
    // (No named helper functions in here: tsx's __name wrapper does not exist in the page.)
    document.addEventListener("click", (e) => {
      if ((e.target as Element | null)?.closest?.("#send")) g.__e2eStops.push({ kind: "click", streaming: document.querySelector("#send.stop") !== null, at: performance.now() });
    }, true);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") g.__e2eStops.push({ kind: "escape", streaming: document.querySelector("#send.stop") !== null, at: performance.now() });
    }, true);
    // When the Stop button turns back into Send: the answer ended (stopped or on its own).
    let wasStreaming = document.querySelector("#send.stop") !== null;
    new MutationObserver(() => {
      const now = document.querySelector("#send.stop") !== null;
      if (wasStreaming && !now) g.__e2eEndedAt = performance.now();
      wasStreaming = now;
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["class"] });
  });
}

/**
 * Sends `message`, and while its answer streams, stops it with `gesture`; asserts the answer ends
 * as "Stopped" and the button turns back into Send. An answer that ended on its own before the
 * gesture reached the webview (a loaded machine) proves nothing: then it tries again, 3 times at most.
 */
async function stopWhileStreaming(ctx: StepContext, frame: Frame, messages: string[], how: string, gesture: () => Promise<void>): Promise<void> {
  for (const [attempt, message] of messages.entries()) {
    await send(frame, message);
    // First try: stop once text shows (or after 1 s). After an answer outran the gesture (a loaded
    // machine: the view lags the server), stop as soon as the Stop button shows.
    if (!(await answerStreaming(frame, attempt === 0 ? 1000 : 0))) {
      ctx.log(`${how}: the answer to "${message}" ended before it could be stopped; trying again`);
      continue;
    }
    await frame.evaluate(() => ((globalThis as unknown as { __e2eStops: unknown[] }).__e2eStops.length = 0));
    const lateBefore = lateStops(ctx);
    await gesture();
    await answerDone(frame, `the answer to end after ${how}`, 60_000);
    const { events, endedAt } = await frame.evaluate(() => {
      const g = globalThis as unknown as { __e2eStops: { kind: string; streaming: boolean; at: number }[]; __e2eEndedAt: number };
      return { events: g.__e2eStops, endedAt: g.__e2eEndedAt };
    });
    const stopEvent = events.find((e) => e.streaming);
    if (!stopEvent) {
      ctx.log(`${how}: the answer ended before the gesture arrived (${JSON.stringify(events)}); trying again`);
      continue;
    }
    const note = lastAnswer(frame).locator(".message-note");
    const noteText = normalizeText(await note.innerText().catch(() => ""));
    if (noteText === "") {
      // The server may have finished the answer on its own while the stop was on its way (the
      // view lags behind the server by seconds on a loaded machine): a complete answer is rightly
      // not "Stopped". The extension logs exactly that case; any other complete answer means
      // Stop did nothing.
      const late = await waitUntil(async () => lateStops(ctx) > lateBefore, { timeoutMs: 5000, what: "" }).catch(() => false);
      if (late) {
        ctx.log(`${how}: the answer completed ${Math.round(endedAt - stopEvent.at)} ms after the gesture (the log says the stop reached it after the end); trying again`);
        continue;
      }
    }
    assert.equal(noteText, "Stopped", `after ${how} during the answer, it does not say "Stopped": ${await describeChat(frame)}`);
    assert.equal(await frame.locator("#send").getAttribute("aria-label"), "Send (Enter)", `after ${how} the Stop button did not turn back into Send`);
    ctx.log(`${how}: stopped`);
    return;
  }
  assert.fail(`${how}: every answer ended before the gesture reached the view (${messages.length} tries)`);
}

export const chat: Step = {
  id: "chat",
  title: "chat: tokens stream in, Stop works, an overflowing conversation still answers and dims old messages",
  async run(ctx) {
    const { page } = ctx;
    const frame = await chatFrame(ctx);
    // The extension's first state fills the transcript (the empty-chat hints on a fresh profile);
    // the banner stays hidden only while the server is ready.
    await waitUntil(
      async () =>
        (await frame.locator("#transcript .empty, #transcript .message").count()) > 0 &&
        (await frame.locator("#banner").isHidden()) &&
        (await frame.locator("#input").isEditable()),
      { timeoutMs: 120_000, what: "the chat view to show its state with the server ready (no banner)", describe: () => describeChat(frame) },
    );
    if ((await frame.locator("#transcript .message").count()) === 0) {
      assert.match(normalizeText(await frame.locator("#transcript .empty").innerText()), /Chat with your local model/);
    }
    await frame.evaluate(() => document.fonts.ready.then(() => true)); // codicons drawn before the screenshot
    await ctx.shot("empty");

    // 1. Streaming: record the answer's text length at every render (a MutationObserver in the
    // webview), then check it grew in several steps while the Stop button was shown.
    await frame.evaluate(() => {
      const g = globalThis as unknown as { __e2eLengths: number[] };
      g.__e2eLengths = [];
      const transcript = document.getElementById("transcript")!;
      new MutationObserver(() => {
        if (!document.querySelector("#send.stop")) return;
        const bodies = transcript.querySelectorAll(".message.assistant .message-body");
        const last = bodies[bodies.length - 1];
        // The answer's own text: a code block's toolbar (language, Copy, Insert) is not part of it.
        const bars = last ? Array.from(last.querySelectorAll(".code-bar")).reduce((sum, bar) => sum + (bar.textContent ?? "").length, 0) : 0;
        if (last) g.__e2eLengths.push((last.textContent ?? "").length - bars);
      }).observe(transcript, { subtree: true, childList: true, characterData: true });
    });
    // A sampled answer can end before any text (the model's end-of-turn first): then the view says
    // so, and another prompt is sent (3 at most).
    let first = "";
    for (const prompt of [
      "Write a Python function that returns the n-th Fibonacci number.",
      "Write a Python function that reverses a string.",
      "Write a Python class for a 2D point with a distance method.",
    ]) {
      await frame.evaluate(() => ((globalThis as unknown as { __e2eLengths: number[] }).__e2eLengths = []));
      await send(frame, prompt);
      if (await answerStreaming(frame)) {
        await ctx.shot("streaming");
        first = await answerDone(frame, "the first answer to finish");
        break;
      }
      const note = normalizeText(await lastAnswer(frame).locator(".message-note").innerText().catch(() => ""));
      ctx.log(`the answer to "${prompt}" ended without streaming any text (note: "${note}"); sending another`);
      if (normalizeText(await lastAnswer(frame).locator(".message-body").innerText()) === "") {
        assert.match(note, /without any text/, "an empty answer says so");
      }
    }
    const lengths = await frame.evaluate(() => (globalThis as unknown as { __e2eLengths: number[] }).__e2eLengths);
    const distinct = [...new Set(lengths.filter((n) => n > 0))];
    ctx.log(`first answer: ${first.length} chars, rendered at ${distinct.length} lengths while streaming (${distinct.slice(0, 8).join(", ")}…)`);
    assert.ok(first.length > 0, "the first answer is empty");
    assert.ok(distinct.length >= 3, `the answer did not stream: its text was rendered at only ${distinct.length} length(s) while streaming (${distinct.join(", ")})`);
    // Markdown is rendered as it streams, so the visible text may lose a few characters when a
    // construct completes (`**bold*` → `bold`, a code fence's info string becoming a label, lines
    // read as prose until they turn out to be code, or the reverse); what
    // must never happen is text the user was reading disappearing.
    const drops = distinct.map((n, i) => (i === 0 ? 0 : distinct[i - 1]! - n));
    assert.ok(Math.max(...drops) <= 16, `the streamed text lost more than markdown syntax: ${distinct.join(", ")}`);
    assert.ok(distinct[distinct.length - 1]! >= Math.max(...distinct) - 16, `the streamed text shrank at the end: ${distinct.join(", ")}`);
    assert.equal(await lastAnswer(frame).locator(".message-note").count(), 0, `the first answer has a note: ${await describeChat(frame)}`);
    await ctx.shot("answered");

    // 2. Stop: with the Stop button, then with Escape; the input stays usable.
    await recordStopGestures(frame);
    await stopWhileStreaming(
      ctx,
      frame,
      ["Now write a class for a binary search tree with insert and search.", "Write a function that merges two sorted lists.", "Write a stack class."],
      "clicking Stop",
      async () => {
        assert.equal(await frame.locator("#send").getAttribute("aria-label"), "Stop (Escape)", "the send button is not a Stop button while streaming");
        await frame.locator("#send").click({ timeout: 10_000 });
      },
    );
    await ctx.shot("stopped");
    await stopWhileStreaming(
      ctx,
      frame,
      ["Explain what a generator is in Python, with an example.", "Write a function that flattens nested lists.", "Write a queue class."],
      "pressing Escape",
      () => frame.locator("#input").press("Escape"),
    );
    assert.ok(await frame.locator("#input").isEditable(), "the input is not editable after Stop");

    // 3. A conversation that overflows the 256-token context several times still answers.
    const script = [
      "Write a function that parses a CSV line into a list of fields.",
      "Add support for quoted fields with commas inside.",
      "Write unit tests for it with unittest.",
      "Now make it read a whole file and yield dictionaries.",
    ];
    let meter: MeterFigures | undefined;
    for (const [i, message] of script.entries()) {
      await send(frame, message);
      const answer = await answerDone(frame, `answer ${i + 1} of the scripted conversation`);
      meter = await meterFigures(frame);
      ctx.log(`scripted ${i + 1}: ${answer.length} chars; meter "${meter?.text}"`);
      if (answer.length === 0) {
        // A sampled answer may end before any text; the view must then say so (step 1 already
        // required a real answer).
        const note = normalizeText(await lastAnswer(frame).locator(".message-note").innerText().catch(() => ""));
        assert.match(note, /without any text/, `scripted answer ${i + 1} is empty without a note: ${await describeChat(frame)}`);
      }
      assert.equal(await lastAnswer(frame).locator(".message-note.error").count(), 0, `scripted answer ${i + 1} failed: ${await describeChat(frame)}`);
      if (meter && meter.shifts >= 3 && i >= 1) break;
    }
    assert.ok(meter, "the context meter is not shown");
    assert.equal(meter.contextSize, 256, `the meter shows a context of ${meter.contextSize}, not the configured 256`);
    assert.ok(meter.kvCells > 0 && meter.kvCells < meter.contextSize, `KV cells in view out of range: ${meter.text}`);
    assert.ok(meter.shifts >= 3, `the conversation overflowed the context only ${meter.shifts} times: ${meter.text}`);

    // Older messages are outside the window: dimmed, with the divider after the last of them.
    const outside = await frame.locator("#transcript .message.outside").count();
    const dividers = await frame.locator("#transcript .window-divider").count();
    ctx.log(`${outside} messages outside the window, ${dividers} divider(s)`);
    assert.ok(outside >= 1, "no message is shown as outside the window");
    assert.equal(dividers, 1, "the window divider is missing (or shown twice)");
    assert.equal(outside, meter.outsideMessages, `the meter says ${meter.outsideMessages} messages out of view, the transcript dims ${outside}`);
    const firstMessage = frame.locator("#transcript .message").first();
    assert.ok((await firstMessage.getAttribute("class"))?.includes("outside"), "the first message is not outside the window");
    assert.ok(!(await lastAnswer(frame).getAttribute("class"))?.includes("outside"), "the newest answer is outside the window");
    await ctx.shot("overflowed");
    await frame.locator("#transcript .window-divider").scrollIntoViewIfNeeded();
    await ctx.shot("window-divider");
    await frame.locator("#transcript").evaluate((el) => (el.scrollTop = el.scrollHeight));
    void page;
  },
};
