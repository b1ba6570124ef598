import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { completionsEnabledFor, defaultSettings, sanitizeSettings } from "../../common/settings";
import { repoRoot } from "../support/paths";

function lookupFrom(values: Record<string, unknown>) {
  return (key: string) => values[key];
}

describe("completion settings", () => {
  it("defaults: on for every language, with the documented bounds", () => {
    const { settings, problems } = sanitizeSettings(lookupFrom({}));
    assert.deepEqual(problems, []);
    assert.deepEqual(settings.completions, defaultSettings.completions);
    assert.equal(completionsEnabledFor(settings.completions, "python"), true);
    assert.equal(completionsEnabledFor(settings.completions, "anything"), true);
  });

  it("package.json declares the same defaults as the code", () => {
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8"));
    const properties = manifest.contributes.configuration.properties;
    for (const key of ["enable", "languages", "maxTokens", "maxLines", "debounceMs"] as const) {
      assert.deepEqual(properties[`streamsink.completions.${key}`].default, defaultSettings.completions[key], key);
    }
    const binding = manifest.contributes.keybindings.find(
      (entry: { command: string }) => entry.command === "editor.action.inlineSuggest.trigger",
    );
    assert.match(binding.when, /config\.streamsink\.completions\.enable/);
  });

  it("per-language map: listed languages win, '*' covers the rest; the switch beats both", () => {
    const { settings, problems } = sanitizeSettings(
      lookupFrom({ "completions.languages": { "*": false, python: true, markdown: false } }),
    );
    assert.deepEqual(problems, []);
    assert.equal(completionsEnabledFor(settings.completions, "python"), true);
    assert.equal(completionsEnabledFor(settings.completions, "markdown"), false);
    assert.equal(completionsEnabledFor(settings.completions, "rust"), false);
    const off = sanitizeSettings(lookupFrom({ "completions.enable": false })).settings.completions;
    assert.equal(completionsEnabledFor(off, "python"), false);
  });

  it("a map without '*' keeps every other language on; a list enables only the languages listed", () => {
    const map = sanitizeSettings(lookupFrom({ "completions.languages": { plaintext: false } })).settings.completions;
    assert.equal(completionsEnabledFor(map, "plaintext"), false);
    assert.equal(completionsEnabledFor(map, "go"), true);
    const list = sanitizeSettings(lookupFrom({ "completions.languages": ["python", "typescript"] })).settings.completions;
    assert.equal(completionsEnabledFor(list, "typescript"), true);
    assert.equal(completionsEnabledFor(list, "go"), false);
  });

  it("replaces invalid values and says which and why", () => {
    const { settings, problems } = sanitizeSettings(
      lookupFrom({
        "completions.enable": "yes",
        "completions.languages": { python: "on", go: false },
        "completions.maxTokens": 0,
        "completions.maxLines": 1000,
        "completions.debounceMs": -5,
      }),
    );
    assert.equal(settings.completions.enable, true);
    assert.deepEqual(settings.completions.languages, { "*": true, go: false });
    assert.equal(settings.completions.maxTokens, 1);
    assert.equal(settings.completions.maxLines, 100);
    assert.equal(settings.completions.debounceMs, 0);
    const keys = problems.map((problem) => problem.key).sort();
    assert.deepEqual(keys, [
      "completions.debounceMs",
      "completions.enable",
      "completions.languages",
      "completions.maxLines",
      "completions.maxTokens",
    ]);
    assert.match(problems.find((p) => p.key === "completions.languages")!.message, /python must be true or false/);
  });

  it("a languages value that is neither a map nor a list falls back to all languages", () => {
    const { settings, problems } = sanitizeSettings(lookupFrom({ "completions.languages": "python" }));
    assert.deepEqual(settings.completions.languages, { "*": true });
    assert.equal(problems.length, 1);
  });
});
