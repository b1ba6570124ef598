import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import * as protocol from "../../common/protocol";
import { array, boolean, check, int, number, object, oneOf, optional, parse, refine, string, tagged, withMessage } from "../../common/validate";
import { repoRoot } from "../support/paths";

type MessageNamespace = { method: string; type: { method: string } };

function messageNamespaces(): [string, MessageNamespace][] {
  const entries: [string, unknown][] = [...Object.entries(protocol), ...Object.entries(protocol.bench)];
  return entries.filter(
    (entry): entry is [string, MessageNamespace] =>
      typeof entry[1] === "object" && entry[1] !== null && "method" in entry[1] && "type" in entry[1],
  );
}

describe("protocol module", () => {
  it("gives every message its own namespace with a unique streamsink/ method", () => {
    const namespaces = messageNamespaces();
    assert.ok(namespaces.length >= 3);
    const methods = namespaces.map(([, ns]) => ns.method);
    assert.equal(new Set(methods).size, methods.length, `duplicate methods: ${methods}`);
    for (const [name, ns] of namespaces) {
      assert.match(ns.method, /^streamsink\/[a-zA-Z/]+$/, name);
      assert.equal(ns.type.method, ns.method, `${name}.type carries its method`);
    }
  });

  it("says which side sends each message and never imports vscode", () => {
    const folder = path.join(repoRoot, "common", "protocol");
    const source = readdirSync(folder)
      .filter((name) => name.endsWith(".ts"))
      .map((name) => readFileSync(path.join(folder, name), "utf8"))
      .join("\n");
    assert.doesNotMatch(source, /from ["']vscode["']/);
    for (const [name] of messageNamespaces()) {
      const at = source.indexOf(`export namespace ${name} `);
      assert.ok(at > 0, `namespace ${name} declared`);
      const comment = source.slice(Math.max(0, source.lastIndexOf("*/", at) - 400), at);
      assert.match(comment, /Sent by the (client|server)/, `${name} documents its sender`);
    }
  });

  it("keeps test and benchmark messages in the bench namespace only", () => {
    const topLevel = new Set(Object.keys(protocol));
    const benchOnly = Object.keys(protocol.bench);
    assert.ok(benchOnly.includes("ChatStateRequest") && benchOnly.includes("CompletionStatsRequest"));
    for (const name of benchOnly) assert.ok(!topLevel.has(name), `${name} is bench-only`);
  });
});

describe("common/validate combinators", () => {
  const schema = object({
    id: string(8, 1),
    count: optional(int(0, 10)),
    kind: oneOf("a", "b"),
    items: array(object({ on: boolean }), 2),
  });

  it("returns the typed value with only the declared fields, absent optional fields left out", () => {
    assert.deepEqual(check(schema, { id: "x", kind: "a", items: [{ on: true }], extra: 1 }), {
      ok: true,
      value: { id: "x", kind: "a", items: [{ on: true }] },
    });
  });

  it("names the first bad field and where inside it", () => {
    assert.deepEqual(check(schema, "no"), { ok: false, message: "must be an object" });
    assert.deepEqual(check(schema, { id: "", kind: "a", items: [] }, "m: "), { ok: false, message: "m: id must be a string of 1..8 characters" });
    assert.deepEqual(check(schema, { id: "x", count: 11, kind: "a", items: [] }), { ok: false, message: "count must be an integer in 0..10" });
    assert.deepEqual(check(schema, { id: "x", kind: "c", items: [] }), { ok: false, message: "kind must be one of a, b" });
    assert.deepEqual(check(schema, { id: "x", kind: "a", items: [{ on: true }, { on: 1 }] }), {
      ok: false,
      message: "items[1].on must be true or false",
    });
    const custom = withMessage(refine(string(), (text) => text.trim() !== "", "empty"), "text must not be blank.");
    assert.deepEqual(check(object({ text: custom }), { text: " " }), { ok: false, message: "text must not be blank." });
  });

  it("tagged messages: refuses unknown types, inherited names included", () => {
    const message = tagged({ ping: object({}), say: object({ text: string(4) }) });
    assert.deepEqual(parse(message, { type: "say", text: "hi", x: 1 }), { type: "say", text: "hi" });
    assert.equal(parse(message, { type: "toString" }), undefined);
    assert.equal(parse(message, { type: "say", text: "too long" }), undefined);
    assert.equal(number(0, 1)(Number.NaN).ok, false);
  });
});
