import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import {
  backends,
  defaultSettings,
  limits,
  logLevels,
  restartServerSettings,
  sanitizeSettings,
  settingsTable,
  speculativeModes,
  type SettingProblem,
  type SettingSpec,
} from "../../common/settings";
import { configurationSchema } from "../../common/settings/schema";
import { resolveContextSettings } from "../../server/contextSize";
import { repoRoot } from "../support/paths";

function lookupFrom(values: Record<string, unknown>) {
  return (key: string) => values[key];
}

/**
 * Sinks and shift against a known context size: bounded by the server once the size is known
 * (server/contextSize.ts with server/kv/policy.ts), for explicit sizes and "auto" alike.
 */
function fitToContextSize(context: { size: number; sinkTokens: number; shiftSize: number }, problems: SettingProblem[]) {
  return resolveContextSettings({ ...defaultSettings, context }, context.size, problems).context;
}

describe("sanitizeSettings", () => {
  it("gives the documented defaults when nothing is set, with no problems", () => {
    const { settings, problems } = sanitizeSettings(lookupFrom({}));
    assert.deepEqual(settings, defaultSettings);
    assert.deepEqual(problems, []);
  });

  it("keeps valid values and expands the model path", () => {
    const { settings, problems } = sanitizeSettings(
      lookupFrom({
        "model.path": "  ~/models/qwen.gguf ",
        "model.backend": "cuda",
        "model.gpuLayers": 20,
        "context.size": 8192,
        "context.sinkTokens": 8,
        "context.shiftSize": 512,
        threads: 6,
        logLevel: "debug",
      }),
      (p) => p.replace("~", "/home/u"),
    );
    assert.deepEqual(problems, []);
    assert.equal(settings.model.path, "/home/u/models/qwen.gguf");
    assert.equal(settings.model.backend, "cuda");
    assert.equal(settings.model.gpuLayers, 20);
    assert.deepEqual(settings.context, { size: 8192, sinkTokens: 8, shiftSize: 512 });
    assert.equal(settings.threads, 6);
    assert.equal(settings.logLevel, "debug");
  });

  it("never turns a missing value into the string 'undefined'", () => {
    const { settings } = sanitizeSettings(lookupFrom({ "model.path": undefined }));
    assert.equal(settings.model.path, "");
  });

  it("replaces absurd values with safe ones and says which and why", () => {
    const { settings, problems } = sanitizeSettings(
      lookupFrom({
        "model.backend": "tpu",
        "model.gpuLayers": -3,
        "context.size": 0,
        threads: -4,
        logLevel: 7,
        "model.path": 12,
      }),
    );
    assert.equal(settings.model.backend, "auto");
    assert.equal(settings.model.gpuLayers, 0);
    assert.equal(settings.context.size, 256);
    assert.equal(settings.threads, 1);
    assert.equal(settings.logLevel, "info");
    assert.equal(settings.model.path, "");
    const keys = problems.map((problem) => problem.key).sort();
    assert.deepEqual(keys, ["context.size", "logLevel", "model.backend", "model.gpuLayers", "model.path", "threads"]);
    assert.match(problems.find((p) => p.key === "model.backend")!.message, /auto, cuda, vulkan, metal, cpu/);
  });

  it("keeps room for a window: sinks at most half the context, shift at most the window", () => {
    const sanitized = sanitizeSettings(
      lookupFrom({ "context.size": 512, "context.sinkTokens": 600, "context.shiftSize": 100_000 }),
    );
    const problems = [...sanitized.problems];
    const settings = { context: fitToContextSize(sanitized.settings.context as { size: number; sinkTokens: number; shiftSize: number }, problems) };
    assert.equal(settings.context.sinkTokens, 256);
    assert.equal(settings.context.shiftSize, 512 - 256 - 1);
    assert.ok(problems.some((p) => p.key === "context.sinkTokens" && /no room for a window/.test(p.message)));
    assert.ok(problems.some((p) => p.key === "context.shiftSize"));
  });

  it("accepts numeric strings and 'auto' where a number or auto is allowed", () => {
    const { settings, problems } = sanitizeSettings(
      lookupFrom({ "model.gpuLayers": "auto", threads: "3", "context.size": "1024" }),
    );
    assert.equal(settings.model.gpuLayers, "auto");
    assert.equal(settings.threads, 3);
    assert.equal(settings.context.size, 1024);
    assert.deepEqual(problems, []);
  });

  it("rejects NaN, Infinity and non-numeric strings", () => {
    const { settings, problems } = sanitizeSettings(
      lookupFrom({ "context.size": Number.NaN, threads: "many", "context.sinkTokens": Number.POSITIVE_INFINITY }),
    );
    assert.equal(settings.context.size, defaultSettings.context.size);
    assert.equal(settings.threads, "auto");
    assert.equal(settings.context.sinkTokens, defaultSettings.context.sinkTokens);
    assert.equal(problems.length, 3);
  });

  it('defaults the context size to "auto" and keeps "auto" and numbers as given', () => {
    assert.equal(defaultSettings.context.size, "auto");
    assert.equal(sanitizeSettings(lookupFrom({ "context.size": "auto" })).settings.context.size, "auto");
    assert.equal(sanitizeSettings(lookupFrom({ "context.size": 4096 })).settings.context.size, 4096);
    const { settings, problems } = sanitizeSettings(lookupFrom({ "context.size": "big" }));
    assert.equal(settings.context.size, "auto");
    assert.match(problems[0]?.message ?? "", /streamsink\.context\.size must be a number/);
  });

  it('leaves sinks and shift to the server while the size is "auto", which fits them once it is known', () => {
    const { settings, problems } = sanitizeSettings(
      lookupFrom({ "context.size": "auto", "context.sinkTokens": 600, "context.shiftSize": 100_000 }),
    );
    assert.deepEqual(settings.context, { size: "auto", sinkTokens: 600, shiftSize: 100_000 });
    assert.deepEqual(problems, []);
    const later: SettingProblem[] = [];
    assert.deepEqual(fitToContextSize({ size: 512, sinkTokens: 600, shiftSize: 100_000 }, later), {
      size: 512,
      sinkTokens: 256,
      shiftSize: 255,
    });
    assert.deepEqual(later.map((problem) => problem.key), ["context.sinkTokens", "context.shiftSize"]);
  });

  it("lists the backend as the setting that needs a server restart", () => {
    assert.ok(restartServerSettings.includes("model.backend"));
    assert.ok(!restartServerSettings.includes("model.path"), "a new model path is applied live");
  });

  it("download.allowHttpHosts keeps host names (with ports), drops anything else with a problem", () => {
    const { settings, problems } = sanitizeSettings(
      lookupFrom({ "download.allowHttpHosts": ["Models.LAN", "127.0.0.1:8080", "http://evil.example", "*", 42, "[::1]:80"] }),
    );
    assert.deepEqual(settings.download.allowHttpHosts, ["models.lan", "127.0.0.1:8080", "[::1]:80"]);
    assert.equal(problems.length, 3);
    assert.match(problems[0]!.message, /not a host name/);
    assert.deepEqual(sanitizeSettings(lookupFrom({ "download.allowHttpHosts": "localhost" })).settings.download.allowHttpHosts, []);
    assert.deepEqual(defaultSettings.download.allowHttpHosts, [], "https only by default");
  });
});

describe("the settings table and package.json", () => {
  const manifest = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8"));
  const declared: Record<string, Record<string, unknown>> = manifest.contributes.configuration.properties;

  it("package.json's contributes.configuration is the one generated from the table (npm run settings:schema)", () => {
    assert.deepEqual(manifest.contributes.configuration, configurationSchema());
  });

  it("declares every setting of the table, and nothing else, with its type, default, range, choices and description", () => {
    assert.deepEqual(Object.keys(declared), Object.keys(settingsTable).map((key) => `streamsink.${key}`));
    for (const [key, spec] of Object.entries(settingsTable) as [string, SettingSpec][]) {
      const property = declared[`streamsink.${key}`]!;
      assert.deepEqual(property.default, spec.default, `${key} default`);
      assert.equal(property.markdownDescription, spec.description, `${key} description`);
      assert.equal(property.order, spec.order, `${key} order`);
      if (spec.type === "enum") assert.deepEqual(property.enum, [...spec.values], `${key} choices`);
      if (spec.type === "integer") {
        assert.equal(property.type, "integer", key);
        assert.equal(property.minimum, spec.min, `${key} minimum`);
        assert.equal(property.maximum, spec.schemaMax === false ? undefined : spec.max, `${key} maximum`);
      }
      if (spec.type === "autoInteger") {
        const integer = (property.anyOf as { type: string; minimum?: number; maximum?: number }[])[1]!;
        assert.equal(integer.minimum, spec.min, `${key} minimum`);
        assert.equal(integer.maximum, spec.schemaMax === false ? undefined : spec.max, `${key} maximum`);
      }
    }
  });

  it("the code's defaults and bounds are the table's: package.json's defaults sanitise to defaultSettings", () => {
    const defaults = (key: string) => declared[`streamsink.${key}`]?.default;
    const { settings, problems } = sanitizeSettings(defaults);
    assert.deepEqual(problems, []);
    assert.deepEqual(settings, defaultSettings);
    assert.deepEqual(limits.sinkTokens, { min: settingsTable["context.sinkTokens"].min, max: settingsTable["context.sinkTokens"].max });
    assert.deepEqual(limits.contextSize, { min: 256, max: 1_048_576 });
    assert.deepEqual([...backends], declared["streamsink.model.backend"]!.enum);
    assert.deepEqual([...logLevels], declared["streamsink.logLevel"]!.enum);
    assert.deepEqual([...speculativeModes], declared["streamsink.speculative"]!.enum);
  });

  it("clamps each bounded setting to the table's range, with the range in the message", () => {
    for (const [key, spec] of Object.entries(settingsTable) as [string, SettingSpec][]) {
      if (spec.type !== "integer" && spec.type !== "autoInteger") continue;
      const { problems } = sanitizeSettings((k) => (k === key ? spec.max + 1 : undefined));
      assert.equal(problems.length, 1, key);
      assert.equal(problems[0]!.message, `streamsink.${key} = ${spec.max + 1} is outside ${spec.min}..${spec.max}; using ${spec.max}.`);
    }
  });
});
