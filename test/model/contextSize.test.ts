// streamsink.context.size through the real server process on tinycoder (trained at 512): "auto"
// resolves to the trained context on the server and is reported back (diagnostics, the contexts'
// real size); an explicit larger size works but warns once, with the reason, in the log and the status.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ChatSendRequest, DiagnosticsRequest } from "../../common/protocol";
import { models } from "../support/paths";
import { startServer, testSettings, type ServerHandle } from "../support/serverProcess";

describe("context size auto on tinycoder (trained context 512)", () => {
  let server: ServerHandle;
  const diagnostics = () => server.connection.sendRequest(DiagnosticsRequest.type, {});

  before(async () => {
    server = await startServer(testSettings({ path: models.tinycoderQ8, context: { size: "auto" } }));
    const status = await server.ready();
    assert.equal(status.warning, undefined, "no warning at the trained size");
  });
  after(async () => {
    await server.stop();
  });

  it("auto gives the trained context, 512, and diagnostics say so", async () => {
    await server.connection.sendRequest(ChatSendRequest.type, {
      chatId: "context-size",
      userMessageId: "u0",
      assistantMessageId: "a0",
      text: "Hello",
      history: [],
      maxTokens: 2,
      temperature: 0,
    });
    const snapshot = await diagnostics();
    assert.equal(snapshot.model?.trainedContextSize, 512);
    const budget = snapshot.process.budget;
    assert.ok(budget, "a memory budget");
    assert.equal(budget.requestedContextSize, "auto");
    assert.equal(budget.contextSize, 512);
    assert.equal(budget.trainContextSize, 512);
    assert.match(budget.contextNote ?? "", /auto: the trained context \(512\)/);
    const chat = snapshot.sequences.find((sequence) => sequence.label === "chat");
    assert.equal(chat?.contextSize, 512, "the chat context was created with the resolved size");
    assert.ok(!server.logs.some((line) => /n_ctx_seq|> trained/.test(line.message)), "neither llama.cpp nor we warned");
  });

  it("an explicit size larger than the trained context loads, and warns once with the reason", async () => {
    await server.configure(testSettings({ path: models.tinycoderQ8, context: { size: 1024 } }));
    const status = await server.ready();
    assert.match(status.warning ?? "", /^n_ctx 1024 > trained 512: answers degrade.*StreamingLLM keeps quality with a window of the training length/);
    const warnings = server.logs.filter((line) => line.message.includes("n_ctx 1024 > trained 512"));
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0]?.type, 2, "logged as a warning");
    const budget = (await diagnostics()).process.budget;
    assert.equal(budget?.contextSize, 1024);
    assert.equal(budget?.requestedContextSize, 1024);
    assert.match(budget?.contextWarning ?? "", /n_ctx 1024 > trained 512/);
  });

  it("going back to the trained size (contexts recreated, no reload) clears the warning", async () => {
    await server.configure(testSettings({ path: models.tinycoderQ8, context: { size: 512 } }));
    const status = await server.waitForStatus((s) => s.state === "ready" && s.warning === undefined, 30_000);
    assert.equal(status.state, "ready");
    assert.ok(!server.statuses.some((s) => s.state === "loading"), "the model was not reloaded");
  });
});
