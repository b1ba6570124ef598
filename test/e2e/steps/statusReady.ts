// Step 1: the status bar reaches "ready" with the model name.
import assert from "node:assert/strict";
import path from "node:path";
import { statusSnapshot, waitForWorkbench, waitUntil, type Step } from "../harness";

export const statusReady: Step = {
  id: "status-ready",
  title: "the status bar reaches ready with the model name",
  async run(ctx) {
    const { page } = ctx;
    await waitForWorkbench(page);
    await ctx.shot("workbench");
    const modelName = path.basename(ctx.modelPath).replace(/\.gguf$/i, "");
    // Starting/loading first (spinner), then ready; the tiny model may load before we look.
    const first = await waitUntil(() => statusSnapshot(page), { timeoutMs: 60_000, what: "the StreamSink status-bar item" });
    ctx.log(`first status: "${first.text}"${first.spinning ? " (spinner)" : ""}`);
    assert.ok(first.text.includes("StreamSink") || first.text.includes(modelName), `unexpected first status "${first.text}"`);
    const ready = await waitUntil(
      async () => {
        const s = await statusSnapshot(page);
        return s && s.text.includes(modelName) && !s.spinning && !s.errorIcon ? s : undefined;
      },
      { timeoutMs: 120_000, what: `status "${modelName}" (ready)`, describe: async () => `status is "${(await statusSnapshot(page))?.text}"` },
    );
    ctx.log(`ready status: "${ready.text}" (aria-label "${ready.ariaLabel}")`);
    assert.match(ready.ariaLabel, /StreamSink/);
    await ctx.shot("ready");
  },
};
