// Resolving `streamsink.context.size` on the server: the settings contexts are created with, and
// which changes of the setting need the model reloaded (the memory guarantee runs before loading).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultSettings, type SettingProblem } from "../../common/settings";
import { contextNeedsReload, nextContextSize, resolveContextSettings } from "../../server/contextSize";

describe("resolveContextSettings", () => {
  it("replaces auto by the resolved size and fits sinks and shift to it", () => {
    const problems: SettingProblem[] = [];
    const settings = { ...defaultSettings, context: { size: "auto" as const, sinkTokens: 400, shiftSize: 9000 } };
    const resolved = resolveContextSettings(settings, 512, problems);
    assert.deepEqual(resolved.context, { size: 512, sinkTokens: 256, shiftSize: 255 });
    assert.deepEqual(problems.map((problem) => problem.key), ["context.sinkTokens", "context.shiftSize"]);
    assert.equal(settings.context.size, "auto", "the input is not changed");
  });
});

describe("contextNeedsReload", () => {
  it("reloads for a larger explicit size or a switch to auto; recreates contexts otherwise", () => {
    assert.equal(contextNeedsReload(512, 1024, 512), true);
    assert.equal(contextNeedsReload(1024, 512, 1024), false);
    assert.equal(contextNeedsReload("auto", 1024, 512), true);
    assert.equal(contextNeedsReload("auto", 256, 512), false);
    assert.equal(contextNeedsReload(256, "auto", 256), true);
    assert.equal(contextNeedsReload("auto", "auto", 512), false);
    assert.equal(nextContextSize("auto", 512), 512);
    assert.equal(nextContextSize(256, 512), 256);
  });
});
