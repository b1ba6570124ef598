import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import * as protocol from "../../common/protocol";
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
