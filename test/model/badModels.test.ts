// More bad model files through the real server process (dist/server.js over IPC), after the ones in
// server.test.ts: random bytes, a wrong magic, a zero-byte file, random bytes behind a GGUF magic —
// each answered with a clear message while the process lives on — and real, loadable models whose
// metadata says their KV cache cannot be shifted in place (M-RoPE sections, a sliding window): they
// load, report why, and chat far past the context in "reevaluate" mode without aborting.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ChatSendRequest, DiagnosticsRequest, ErrorCodes, GenerateRequest } from "../../common/protocol";
import { rewriteGgufArchitecture } from "../support/ggufRewrite";
import { models } from "../support/paths";
import { startServer, testSettings, type ServerHandle } from "../support/serverProcess";

let scratch: string;
let server: ServerHandle;

before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "streamsink-bad-models-"));
  server = await startServer(testSettings({ path: path.join(scratch, "none-yet.gguf") }));
  await server.waitForStatus((s) => s.state === "error");
});
after(async () => {
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function load(modelPath: string): Promise<{ state: string; message: string }> {
  await server.configure(testSettings({ path: modelPath, context: { size: 512 } }));
  // Match this file's status: a repeat of an earlier status (sent on `initialized`) may arrive late.
  const status = await server.waitForStatus((s) => (s.state === "error" || s.state === "ready") && s.modelPath === modelPath, 120_000);
  assert.equal(server.process.exitCode, null, "the server process is still running");
  assert.equal(server.process.signalCode, null, "the server process was not killed by a signal");
  return status;
}

async function expectError(modelPath: string, pattern: RegExp): Promise<void> {
  const status = await load(modelPath);
  assert.equal(status.state, "error", `expected an error for ${modelPath}, got ${JSON.stringify(status)}`);
  assert.match(status.message, pattern);
  assert.ok(status.message.includes(modelPath), "the message names the file");
  // Requests are answered with "model not ready", not a crash.
  await assert.rejects(
    server.connection.sendRequest(GenerateRequest.type, { prompt: "x", maxTokens: 2 }),
    (error: { code: number }) => error.code === ErrorCodes.modelNotReady,
  );
}

describe("bad model files: a clear message each, the server lives on", () => {
  it("random bytes", async () => {
    const file = path.join(scratch, "random.gguf");
    const bytes = randomBytes(256 * 1024);
    bytes.write("RAND", 0, "ascii"); // never "GGUF" by chance
    await writeFile(file, bytes);
    await expectError(file, /is not a GGUF model file \(it does not start with "GGUF"\)/);
  });

  it("a wrong magic in front of a real model", async () => {
    const file = path.join(scratch, "wrong-magic.gguf");
    await copyFile(models.stories, file);
    const handle = await open(file, "r+");
    await handle.write(Buffer.from("GGML", "ascii"), 0, 4, 0);
    await handle.close();
    await expectError(file, /is not a GGUF model file/);
  });

  it("a zero-byte file", async () => {
    const file = path.join(scratch, "empty.gguf");
    await writeFile(file, "");
    await expectError(file, /is not a GGUF model file/);
  });

  it("random bytes behind a GGUF magic", async () => {
    const file = path.join(scratch, "gguf-then-random.gguf");
    const bytes = randomBytes(256 * 1024);
    bytes.write("GGUF", 0, "ascii");
    await writeFile(file, bytes);
    await expectError(file, /damaged|truncated|not a GGUF/i);
  });
});

describe("models whose KV cache cannot be shifted in place: reevaluate mode, reason reported", () => {
  const variants = [
    {
      name: "M-RoPE sections (llama with rope.dimension_sections)",
      file: "stories-mrope.gguf",
      build: (file: string) =>
        rewriteGgufArchitecture(models.stories, file, "llama", {
          "llama.rope.dimension_sections": { type: "u32[]", value: [2, 2, 2, 0] },
        }),
      blocker: "m-rope",
      reason: /multi-section RoPE \(M-RoPE\)/,
    },
    {
      name: "a sliding window (cohere2, 32 tokens)",
      file: "stories-swa.gguf",
      build: (file: string) =>
        rewriteGgufArchitecture(
          models.stories,
          file,
          "cohere2",
          {
            "cohere2.logit_scale": { type: "f32", value: 1 },
            "cohere2.attention.sliding_window": { type: "u32", value: 32 },
            "cohere2.attention.layer_norm_epsilon": { type: "f32", value: 1e-5 },
          },
          (name) => name.endsWith("ffn_norm.weight") || name === "output.weight",
        ),
      blocker: "swa",
      reason: /sliding-window attention/,
    },
  ];

  for (const variant of variants) {
    it(`${variant.name}: loads, says why, and chats past the context without aborting`, async () => {
      const file = path.join(scratch, variant.file);
      await variant.build(file);
      const status = await load(file);
      assert.equal(status.state, "ready", status.message);

      const diagnostics = await server.connection.sendRequest(DiagnosticsRequest.type, {});
      assert.equal(diagnostics.model?.canShift, false);
      assert.match(diagnostics.model?.shiftReason ?? "", variant.reason);

      // One message longer than the 512-token context: the window must be evicted while reading it.
      const long = "Once upon a time, there was a little girl named Lily. She liked to play in the park. ".repeat(30);
      const result = await server.connection.sendRequest(ChatSendRequest.type, {
        chatId: `bad-${variant.blocker}`,
        userMessageId: "u1",
        assistantMessageId: "a1",
        text: long,
        history: [],
        maxTokens: 16,
        temperature: 0,
      });
      assert.ok(result.promptTokens > result.stats.contextSize, `a ${result.promptTokens}-token turn`);
      assert.equal(result.stats.mode, "reevaluate");
      assert.equal(result.stats.canShift, false);
      assert.match(result.stats.reason ?? "", variant.reason);
      assert.ok(result.stats.shifts > 0 && result.stats.reevaluatedTokens > 0, "the window was truncated and re-evaluated");
      assert.ok(result.kvCellsMax <= result.stats.contextSize - 1);
      assert.ok(result.generatedTokens > 0, "and it answered");
      assert.equal(server.process.exitCode, null);
    });
  }
});
