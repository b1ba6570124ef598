// A webview is a web page: anything it posts may be malformed or hostile. 1,000 random and
// mutated messages through each validator: none throws, and what is accepted is exactly a
// well-formed message (no extra fields carried along, no prototype tricks).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseFromWebview, parseToWebview } from "../../common/chatMessages";
import { parseWebviewMessage } from "../../common/diagnosticsView";
import { prng } from "../support/random";

const chatTypes = [
  "ready", "send", "stop", "openChat", "deleteChat", "pin", "copy", "insert", "attach",
  "removeAttachment", "openSettings", "page", "search",
];
const panelTypes = ["ready", "copy", "resetCache", "restartServer"];
const fieldNames = ["type", "text", "chatId", "messageId", "pinned", "what", "index", "label", "start", "count", "query", "__proto__", "constructor"];

function junk(random: () => number, depth = 0): unknown {
  const pick = Math.floor(random() * 12);
  switch (pick) {
    case 0: return undefined;
    case 1: return null;
    case 2: return random() < 0.5;
    case 3: return [Number.NaN, Number.POSITIVE_INFINITY, -1, 0, 1e308, 2 ** 53 + 1, 3.5][Math.floor(random() * 7)];
    case 4: return "x".repeat(Math.floor(random() * 3) === 0 ? 2_000_000 : Math.floor(random() * 40));
    case 5: return ["<script>alert(1)</script>", "javascript:alert(1)", "", " ", "\u0000", "../../etc/passwd"][Math.floor(random() * 6)];
    case 6: return Symbol("s").toString();
    case 7: return depth < 3 ? [junk(random, depth + 1), junk(random, depth + 1)] : [];
    default: {
      if (depth >= 3) return {};
      const record: Record<string, unknown> = {};
      const fields = Math.floor(random() * 5);
      for (let i = 0; i < fields; i++) {
        const name = fieldNames[Math.floor(random() * fieldNames.length)]!;
        Object.defineProperty(record, name, { value: junk(random, depth + 1), enumerable: true, configurable: true, writable: true });
      }
      if (random() < 0.6) {
        const types = random() < 0.5 ? chatTypes : panelTypes;
        record.type = types[Math.floor(random() * types.length)];
      }
      return record;
    }
  }
}

function fuzz(name: string, parse: (raw: unknown) => unknown, allowedKeys: Set<string>, someValid = true): void {
  it(`${name}: 1,000 malformed messages never throw; accepted ones are clean`, () => {
    const random = prng(0x5eed);
    let accepted = 0;
    for (let i = 0; i < 1000; i++) {
      const raw = junk(random);
      let parsed: unknown;
      assert.doesNotThrow(() => {
        parsed = parse(raw);
      }, `message ${i}`);
      if (parsed === undefined) continue;
      accepted++;
      assert.ok(parsed !== raw, "a fresh object, never the posted one");
      assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
      for (const key of Object.keys(parsed as object)) assert.ok(allowedKeys.has(key), `unexpected field ${key}`);
      assert.equal(typeof (parsed as { type: unknown }).type, "string");
    }
    assert.ok(accepted < 1000, "most junk is rejected");
    if (someValid) assert.ok(accepted > 0, "the generator also produces valid messages, so acceptance is exercised");
  });
}

describe("webview message validation under fuzzing", () => {
  fuzz("chat view → extension", parseFromWebview, new Set(["type", "text", "chatId", "messageId", "pinned", "what", "index", "start", "count", "query"]));
  fuzz("extension → chat view", parseToWebview, new Set(["type", "text", "chatId", "messageId", "pinned", "what", "index", "label",
    "state", "chats", "messages", "window", "notice", "status", "attachments", "message", "delta", "meter", "banner", "settings",
    "start", "total", "query", "hits", "more"]), false);
  fuzz("diagnostics panel → extension", parseWebviewMessage, new Set(["type", "label"]));

  it("rejects each valid message once a field has the wrong type", () => {
    assert.deepEqual(parseFromWebview({ type: "send", text: "hi" }), { type: "send", text: "hi" });
    assert.equal(parseFromWebview({ type: "send", text: 42 }), undefined);
    assert.equal(parseFromWebview({ type: "send", text: "x".repeat(100_001) }), undefined);
    assert.equal(parseFromWebview({ type: "pin", messageId: "m1", pinned: "yes" }), undefined);
    assert.equal(parseFromWebview({ type: "removeAttachment", index: 1.5 }), undefined);
    assert.equal(parseFromWebview({ type: "attach", what: "disk" }), undefined);
    assert.equal(parseFromWebview({ type: "openChat", chatId: "" }), undefined);
    assert.equal(parseWebviewMessage({ type: "resetCache", label: "../chat" }), undefined);
    assert.deepEqual(parseWebviewMessage({ type: "resetCache", label: "chat" }), { type: "resetCache", label: "chat" });
  });
});
