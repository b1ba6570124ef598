// The server's message guard drops what would throw inside vscode-jsonrpc (a $/cancelRequest
// without an id) and lets every well-formed message through.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { malformedMessageProblem } from "../../server/messageGuard";

describe("malformedMessageProblem", () => {
  it("drops cancel notifications without a usable id", () => {
    for (const params of [undefined, null, {}, { id: null }, { id: {} }, "x"]) {
      assert.match(
        malformedMessageProblem({ jsonrpc: "2.0", method: "$/cancelRequest", params }) ?? "",
        /\$\/cancelRequest without a numeric or string id/,
        JSON.stringify(params),
      );
    }
  });

  it("lets valid cancels, requests, notifications and responses through", () => {
    assert.equal(malformedMessageProblem({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: 3 } }), undefined);
    assert.equal(malformedMessageProblem({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: "a" } }), undefined);
    assert.equal(malformedMessageProblem({ jsonrpc: "2.0", id: 1, method: "streamsink/generate", params: {} }), undefined);
    assert.equal(malformedMessageProblem({ jsonrpc: "2.0", id: 1, result: null }), undefined);
  });
});
