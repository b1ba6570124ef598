// Step 5: a model path to a missing file shows a clear error (status bar + notification naming
// the path); fixing the setting recovers without reloading the window.
import assert from "node:assert/strict";
import path from "node:path";
import { clearToasts, statusSnapshot, toastMessages, waitUntil, type Step } from "../harness";

export const badConfig: Step = {
  id: "bad-config",
  title: "a missing model file shows a clear error; fixing the setting recovers without reload",
  async run(ctx) {
    const { page } = ctx;
    const modelName = path.basename(ctx.modelPath).replace(/\.gguf$/i, "");
    const missing = path.join(ctx.profile.root, "no-such-dir", "missing-model.gguf");
    // A marker in the page proves later that the window was not reloaded.
    await page.evaluate(() => ((globalThis as Record<string, unknown>).__streamsinkE2eMarker = 42));
    await clearToasts(page);

    ctx.updateSettings({ "streamsink.model.path": missing });
    const error = await waitUntil(
      async () => {
        const s = await statusSnapshot(page);
        return s?.errorIcon ? s : undefined;
      },
      { timeoutMs: 60_000, what: "the error status", describe: async () => `status is "${(await statusSnapshot(page))?.text}"` },
    );
    assert.match(error.text, /StreamSink/);
    assert.ok(!error.text.includes(modelName), `error status still names the old model: "${error.text}"`);
    const toast = await waitUntil(async () => (await toastMessages(page)).find((m) => m.includes(missing)), {
      timeoutMs: 30_000,
      what: `a notification naming ${missing}`,
      describe: async () => `toasts: ${JSON.stringify(await toastMessages(page))}`,
    });
    ctx.log(`error toast: "${toast}"`);
    ctx.log(`error status: "${error.text}" (aria-label "${error.ariaLabel}")`);
    assert.ok(error.ariaLabel.includes(missing) || /not found|missing|does not exist|no such/i.test(error.ariaLabel), `status label does not explain: "${error.ariaLabel}"`);
    await ctx.shot("error");

    ctx.updateSettings({ "streamsink.model.path": ctx.modelPath });
    const ready = await waitUntil(
      async () => {
        const s = await statusSnapshot(page);
        return s && s.text.includes(modelName) && !s.spinning && !s.errorIcon ? s : undefined;
      },
      { timeoutMs: 120_000, what: "recovery to ready", describe: async () => `status is "${(await statusSnapshot(page))?.text}"` },
    );
    ctx.log(`recovered: "${ready.text}"`);
    // The error notification closes by itself once the error is fixed.
    await waitUntil(async () => ((await toastMessages(page)).some((m) => m.includes(missing)) ? undefined : true), {
      timeoutMs: 15_000,
      what: "the error notification to close after the fix",
      describe: async () => `toasts: ${JSON.stringify(await toastMessages(page))}`,
    });
    const marker = await page.evaluate(() => (globalThis as Record<string, unknown>).__streamsinkE2eMarker);
    assert.equal(marker, 42, "the window was reloaded");
    await ctx.shot("recovered");
    await clearToasts(page); // leave the window clean for the next step
  },
};
