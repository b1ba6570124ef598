// Step 4: `StreamSink: Show Cache Diagnostics` from the command palette shows the chat sequence's
// sinks, evictions and shifts, and they match the session: the same figures as the chat view's
// context meter (step 2 overflowed the 256-token context several times), the status bar's KV fill
// ("201/256 · 4 sinks"), and the JSON that `StreamSink: Copy Diagnostics` puts on the clipboard.
import assert from "node:assert/strict";
import type { Frame } from "playwright-core";
import { normalizeText, runCommand, statusSnapshot, waitUntil, webviewFrameWith, type Step } from "../harness";
import { chatFrame, meterFigures } from "./chat";

const num = (text: string | undefined) => Number((text ?? "").replace(/[^\d]/g, ""));

/** The rows of a sequence card, label → value, e.g. "Shifts" → "5". */
async function cardRows(frame: Frame, label: string): Promise<Record<string, string> | undefined> {
  const card = frame.locator("#sequences .card", { has: frame.locator("h3", { hasText: new RegExp(`^${label}$`) }) });
  if ((await card.count()) === 0) return undefined;
  const rows = await card.locator("tr").evaluateAll((trs) =>
    trs.map((tr) => [tr.querySelector("th")?.textContent ?? "", tr.querySelector("td")?.textContent ?? ""] as const),
  );
  return Object.fromEntries(rows.map(([k, v]) => [normalizeText(k), normalizeText(v)]));
}

interface SequenceJson {
  label: string;
  sinks: number;
  kvCells: number;
  contextSize: number;
  shifts: number;
  tokensEvicted: number;
}

export const diagnostics: Step = {
  id: "diagnostics",
  title: "Show Cache Diagnostics shows sinks, evictions and shifts that match the chat session",
  async run(ctx) {
    const { page } = ctx;
    // What the chat view says about its own context (step 2 left it there).
    const chat = await chatFrame(ctx);
    const meter = await meterFigures(chat);
    assert.ok(meter, "the chat view shows no context meter: the chat step must run before this one");
    ctx.log(`chat meter: "${meter.text}"`);
    assert.ok(meter.shifts > 0, `the chat did not shift (${meter.text}): the chat step must overflow the context first`);

    await runCommand(page, "StreamSink: Show Cache Diagnostics");
    const panel = await webviewFrameWith(page, "#sequences", 30_000);
    const rows = await waitUntil(() => cardRows(panel, "chat"), {
      timeoutMs: 30_000,
      what: "the chat sequence in the diagnostics panel",
      describe: async () => `sequences: "${normalizeText(await panel.locator("#sequences").innerText())}"`,
    });
    const headline = normalizeText(await panel.locator("#headline").innerText());
    ctx.log(`panel: "${headline}"; chat: ${JSON.stringify(rows)}`);
    // The chart draws once the panel has two samples (it polls once a second).
    await waitUntil(async () => (await panel.locator("#chart svg polyline").count()) > 0, { timeoutMs: 15_000, what: "the KV fill chart" });
    await ctx.shot("panel");

    const sinks = num(rows["Sink tokens"]);
    const shifts = num(rows["Shifts"]);
    const evicted = num(rows["Evicted"]);
    const contextSize = num(rows["Context size"]);
    const kvCells = num(rows["KV cells in use"]?.split("(")[0]);
    const sinkChips = await panel.locator("#sequences .card", { has: panel.locator("h3", { hasText: /^chat$/ }) }).locator(".sinks code.token").count();
    assert.match(headline, /ready/i);
    assert.ok(sinks > 0, `no sink tokens: ${rows["Sink tokens"]}`);
    assert.equal(sinkChips, sinks, `the panel lists ${sinkChips} sink tokens but says ${sinks}`);
    assert.equal(contextSize, 256, `context size ${rows["Context size"]}, configured 256`);
    assert.equal(rows["Mode"], "shift in place");
    // The same figures as the chat view's meter (the chat is idle: nothing moves between the reads).
    assert.equal(shifts, meter.shifts, `panel shifts ${shifts}, chat meter ${meter.shifts}`);
    assert.equal(kvCells, meter.kvCells, `panel KV cells ${kvCells}, chat meter ${meter.kvCells}`);
    assert.ok(evicted >= shifts, `evicted ${evicted} tokens in ${shifts} shifts`);
    assert.ok(kvCells <= contextSize - 1, `KV cells ${kvCells} exceed the sequence's capacity ${contextSize - 1}`);

    // The status bar's KV fill names each sequence: "chat <kvCells>/<contextSize> · compl …".
    const status = await waitUntil(
      async () => {
        const s = await statusSnapshot(page);
        return s && s.text.includes(`chat ${kvCells}/${contextSize}`) ? s : undefined;
      },
      { timeoutMs: 15_000, what: `the status bar to show chat ${kvCells}/${contextSize}`, describe: async () => `status "${(await statusSnapshot(page))?.text}"` },
    );
    ctx.log(`status bar: "${status.text}"`);

    // Copy Diagnostics: the clipboard holds JSON with the same chat sequence.
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
    await page.evaluate(() => navigator.clipboard.writeText("")).catch(() => {});
    await runCommand(page, "StreamSink: Copy Diagnostics");
    const copied = await waitUntil(
      async () => {
        const text = await page.evaluate(() => navigator.clipboard.readText());
        return text.trim().startsWith("{") ? text : undefined;
      },
      { timeoutMs: 15_000, what: "the diagnostics JSON on the clipboard" },
    );
    const report = JSON.parse(copied) as { status: { state: string }; diagnostics?: { sequences: SequenceJson[] } };
    assert.equal(report.status.state, "ready");
    const seq = report.diagnostics?.sequences.find((s) => s.label === "chat");
    assert.ok(seq, `the copied diagnostics have no chat sequence: ${copied.slice(0, 300)}`);
    assert.deepEqual(
      { sinks: seq.sinks, kvCells: seq.kvCells, contextSize: seq.contextSize, shifts: seq.shifts, tokensEvicted: seq.tokensEvicted },
      { sinks, kvCells, contextSize, shifts, tokensEvicted: evicted },
      "the copied diagnostics differ from the panel",
    );
    ctx.log(`clipboard: chat ${JSON.stringify(seq)}`.slice(0, 300));

    await page.keyboard.press("Escape");
    await runCommand(page, "View: Close Editor");
    await waitUntil(async () => (await page.locator('.tabs-container .tab[aria-label^="StreamSink Cache Diagnostics"]').count()) === 0, {
      timeoutMs: 10_000,
      what: "the diagnostics panel to close",
    });
  },
};
