// Special tokens never reach the chat text: tinycoder's FIM tokens (<|fim_prefix|> <|fim_suffix|>
// <|fim_middle|>) are USER_DEFINED in its vocabulary, so llama.cpp's detokenize without special
// tokens renders them as text; before the fix they showed up in sampled chat answers. Here: 40
// sampled answers of one conversation through the real server, none containing the text of any
// special token of the model's vocabulary, neither in the result nor in what was streamed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ChatSendRequest, ChatTokenNotification } from "../../common/protocol";
import { models } from "../support/paths";
import { startServer, testSettings, type ServerHandle } from "../support/serverProcess";

/** Texts of the vocabulary's special tokens (control, user-defined, unknown, end of generation). */
async function specialTexts(modelPath: string): Promise<string[]> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp"); // ESM with top-level await
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  try {
    const texts: string[] = [];
    for (const token of model.iterateAllTokens()) {
      const attributes = model.getTokenAttributes(token);
      const special = attributes.control || attributes.userDefined || attributes.unknown || model.isEogToken(token);
      const text = model.detokenize([token], true);
      if (special && text.trim() !== "") texts.push(text);
    }
    return texts;
  } finally {
    await model.dispose();
    await llama.dispose();
  }
}

const prompts = [
  "Write a Python function that reverses a list.",
  "def merge(a, b):",
  "Fill in the middle of this: def add(a, b):\n    <here>\n    return c",
  "class Node:",
  "How do I read a file in JavaScript?",
  "import os\n\ndef walk(",
  "Complete: function debounce(fn, ms) {",
  "Fix this: for i in range(10) print(i)",
];

describe("special tokens never reach the chat text (tinycoder)", () => {
  let server: ServerHandle;
  let texts: string[] = [];
  const streamed = new Map<string, string>();

  before(async () => {
    texts = await specialTexts(models.tinycoderQ8);
    server = await startServer(testSettings({ path: models.tinycoderQ8, context: { size: "auto" } }));
    server.connection.onNotification(ChatTokenNotification.type, (token) => {
      streamed.set(token.assistantMessageId, (streamed.get(token.assistantMessageId) ?? "") + token.delta);
    });
    await server.ready();
  });
  after(async () => {
    await server.stop();
  });

  it("the vocabulary has the FIM tokens this test is about", () => {
    for (const text of ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "</s>"]) assert.ok(texts.includes(text), text);
  });

  it("40 sampled answers contain no special token text", async () => {
    const answers: string[] = [];
    for (let turn = 0; turn < 40; turn++) {
      const result = await server.connection.sendRequest(ChatSendRequest.type, {
        chatId: "special-tokens",
        userMessageId: `u${turn}`,
        assistantMessageId: `a${turn}`,
        text: prompts[turn % prompts.length]!,
        history: [],
        maxTokens: 48,
        temperature: 1,
        seed: 1000 + turn,
      });
      answers.push(result.text);
      const live = streamed.get(`a${turn}`) ?? "";
      assert.ok(result.text.startsWith(live.trimEnd()), `turn ${turn}: streamed ${JSON.stringify(live)} vs ${JSON.stringify(result.text)}`);
      for (const shown of [result.text, live]) {
        const found = texts.filter((text) => shown.includes(text));
        assert.deepEqual(found, [], `turn ${turn}: ${JSON.stringify(shown)}`);
      }
    }
    assert.ok(answers.filter((answer) => answer.trim() !== "").length >= 20, `mostly non-empty answers: ${JSON.stringify(answers)}`);
  });
});
