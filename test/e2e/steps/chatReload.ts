// Step: a window reload keeps what the chat view showed (after step 2 overflowed the context and
// dimmed old messages): the context meter, the dimmed messages and their "not seen" badges are
// back at once, read from the stored chat before any new message, and the messages that were
// outside the window are the same ones; the status bar shows the chat's KV fill again (the server
// loaded the chat's KV snapshot when the model was ready). Runs after the diagnostics step, which reads the session
// that a reload ends. Then: no answer of the session shows a special token's text.
import assert from "node:assert/strict";
import { statusSnapshot, waitForWorkbench, waitUntil, type Step } from "../harness";
import { chatFrame, meterFigures } from "./chat";

async function outsideIds(frame: import("playwright-core").Frame): Promise<string[]> {
  return await frame.locator("#transcript .message.outside").evaluateAll((elements) => elements.map((e) => (e as HTMLElement).dataset.id ?? ""));
}

export const chatReload: Step = {
  id: "chat-reload",
  title: "chat: a window reload keeps the meter, the dimming and the badges",
  async run(ctx) {
    const before = await chatFrame(ctx);
    const meter = await meterFigures(before);
    assert.ok(meter, "no context meter before the reload (the chat step ran first?)");
    const outside = await outsideIds(before);
    assert.ok(outside.length > 0, "no dimmed message before the reload");
    ctx.log(`before the reload: meter "${meter.text}", ${outside.length} dimmed`);

    const started = Date.now();
    await ctx.page.reload();
    await waitForWorkbench(ctx.page);
    const frame = await chatFrame(ctx);
    const restored = await waitUntil(
      async () => {
        const figures = await meterFigures(frame);
        const ids = await outsideIds(frame);
        return figures && ids.length > 0 ? { figures, ids } : undefined;
      },
      { timeoutMs: 30_000, what: "the meter and the dimmed messages after the reload" },
    );
    const badges = await frame.locator("#transcript .message.outside .window-badge").count();
    ctx.log(`after the reload (${((Date.now() - started) / 1000).toFixed(1)} s): meter "${restored.figures.text}", ${restored.ids.length} dimmed, ${badges} badges`);
    assert.equal(restored.figures.kvCells, meter.kvCells, "the meter's KV figures");
    assert.equal(restored.figures.shifts, meter.shifts);
    assert.equal(restored.figures.outsideMessages, meter.outsideMessages);
    assert.deepEqual(restored.ids, outside, "the same messages are dimmed");
    assert.equal(badges, outside.length, "every dimmed message has its badge");
    // The status bar's fill is back too, before any new message: the extension asks the server to
    // load the shown chat's KV snapshot (streamsink/chat/open) once the model is ready.
    const status = await waitUntil(
      async () => {
        const s = await statusSnapshot(ctx.page);
        return s && s.text.includes(`chat ${meter.kvCells}/`) ? s : undefined;
      },
      { timeoutMs: 30_000, what: `the status bar to show chat ${meter.kvCells}/… after the reload`, describe: async () => `status "${(await statusSnapshot(ctx.page))?.text}"` },
    );
    ctx.log(`status bar after the reload: "${status.text}"`);
    await ctx.shot("after-reload");

    // No answer of the whole session shows a special token's text (tinycoder's FIM and control
    // tokens: <|fim_suffix|>, <|endoftext|>, …, or <s> / </s>).
    const answers = await frame.locator("#transcript .message.assistant .message-body").allInnerTexts();
    assert.ok(answers.length >= 3, `only ${answers.length} answers in the view`);
    const special = /<\|[^|<>\s]{1,40}\|>|<\/?s>/;
    const leaked = answers.filter((text) => special.test(text));
    ctx.log(`${answers.length} answers checked for special-token text: ${leaked.length} leaked`);
    assert.deepEqual(leaked.map((text) => text.match(special)?.[0]), [], "an answer shows a special token's text");
  },
};
