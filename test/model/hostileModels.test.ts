// Hostile model files (issue #13): the whole malformed-GGUF corpus of test/support/ggufFuzz.ts
// through the model-file check in-process (each case gets its own message), then a representative
// subset through the real server process — per case a message naming the file within 5 s, the
// process alive, and the good model serving afterwards — plus the load rules around them: the
// previous model stays when a new file fails its check, a load that crashed the server is refused
// once with a message naming the file, `threads` above the machine's cores is capped and said.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ErrorCodes, GenerateRequest } from "../../common/protocol";
import { LoadMarkers } from "../../server/model/loadMarker";
import { checkModelFile } from "../../server/model/modelFile";
import { ggufFuzzCases, type FuzzCase } from "../support/ggufFuzz";
import { models } from "../support/paths";
import { startServer, testSettings, type ServerHandle } from "../support/serverProcess";

let scratch: string;
let cases: FuzzCase[];

before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "streamsink-hostile-models-"));
  cases = await ggufFuzzCases(models.tinycoderQ8);
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function byName(name: string): FuzzCase {
  const found = cases.find((c) => c.name === name);
  assert.ok(found, `the corpus has a case "${name}"`);
  return found;
}

async function generates(server: ServerHandle): Promise<string> {
  const result = await server.connection.sendRequest(GenerateRequest.type, { prompt: "def add(a, b):", maxTokens: 3 });
  return result.text;
}

describe("the malformed-GGUF corpus through the model-file check", () => {
  it("has at least 60 cases, and every one is refused with the message it expects, quickly", async () => {
    assert.ok(cases.length >= 60, `${cases.length} cases`);
    const llamaCppOnly = new Set(["unknown architecture (keys renamed: only llama.cpp can tell)"]);
    for (const fuzz of cases) {
      const file = await fuzz.create(scratch);
      const started = performance.now();
      const outcome = await checkModelFile(undefined, file).then(
        () => "passed",
        (error: Error) => error.message,
      );
      const ms = performance.now() - started;
      if (llamaCppOnly.has(fuzz.name)) {
        assert.equal(outcome, "passed", `${fuzz.name}: structurally valid, left to llama.cpp`);
        continue;
      }
      assert.match(outcome, fuzz.expect, `${fuzz.name}`);
      assert.ok(outcome.includes(file), `${fuzz.name}: the message names the file`);
      assert.ok(ms < 2000, `${fuzz.name}: checked in ${ms} ms`);
    }
  });
});

describe("hostile model files through the real server", () => {
  let server: ServerHandle;
  before(async () => {
    server = await startServer(testSettings({ path: models.tinycoderQ8 }));
    await server.waitForStatus((s) => s.state === "ready", 120_000);
  });
  after(async () => {
    await server.stop();
  });

  const subset = [
    "24 bytes claiming 2^62 tensors",
    "24 bytes claiming 2^62 metadata entries",
    "first key length 2^31+1",
    "first token length 2^31+1",
    "zero vocabulary",
    "head count 0",
    "block count 4e9",
    "zero-sized dimension",
    "first tensor offset 2^60",
    "truncated at byte 92153",
    "a FIFO named model.gguf",
    "a directory named model.gguf",
    "a symlink loop",
    "an empty file",
    "unknown architecture (keys renamed: only llama.cpp can tell)",
  ];
  for (const name of subset) {
    it(`${name}: a clear message within 5 s, the server alive, the good model serving afterwards`, async () => {
      const fuzz = byName(name);
      const file = await fuzz.create(scratch);
      const started = performance.now();
      await server.configure(testSettings({ path: file }));
      const status = await server.waitForStatus((s) => (s.state === "error" || s.state === "ready") && s.message.includes(file), 5000);
      assert.ok(performance.now() - started < 5000);
      assert.match(status.message, fuzz.expect);
      assert.doesNotMatch(status.message, /Cannot read properties|cannot be converted to a BigInt|Object is disposed/);
      assert.equal(server.process.exitCode, null, "the server process is still running");
      assert.equal(server.process.signalCode, null, "the server process was not killed by a signal");
      if (/stays loaded/.test(status.message)) {
        // The check failed before anything was unloaded: an error for the chosen file, while the
        // previous model keeps serving.
        assert.equal(status.state, "error");
        assert.match(status.message, /tinycoder-16m-q8_0 stays loaded/);
        assert.equal(status.modelPath, file);
        assert.equal(typeof (await generates(server)), "string");
      }
      await server.configure(testSettings({ path: models.tinycoderQ8 }));
      await server.waitForStatus((s) => s.state === "ready" && s.modelPath === models.tinycoderQ8, 120_000);
      assert.equal(typeof (await generates(server)), "string");
    });
  }

  it("a model chosen while a FIFO, a folder and a 2^62-tensor file are pending always wins", async () => {
    const files = await Promise.all(
      ["a FIFO named model.gguf", "a directory named model.gguf", "24 bytes claiming 2^62 tensors"].map((name) => byName(name).create(scratch)),
    );
    for (const file of files) await server.configure(testSettings({ path: file }));
    await server.configure(testSettings({ path: models.stories }));
    const status = await server.waitForStatus((s) => s.state === "ready" && s.modelPath === models.stories, 60_000);
    assert.match(status.message, /stories260K is ready/);
    assert.equal(typeof (await generates(server)), "string");
  });

  it("caps threads at the machine's logical cores and says so", async () => {
    const settings = { ...testSettings({ path: models.tinycoderQ8 }), threads: 512 };
    await server.configure(settings);
    const status = await server.waitForStatus((s) => s.state === "ready" && s.modelPath === models.tinycoderQ8, 120_000);
    const cores = os.availableParallelism();
    if (cores < 512) {
      assert.match(status.message, new RegExp(`streamsink\\.threads \\(512\\) is above this machine's ${cores} logical cores: using ${cores}`));
    }
    assert.equal(typeof (await generates(server)), "string");
  });
});

describe("a model load that crashed the server", () => {
  it("a server killed mid-load (as a native crash would) leaves a marker: the next server names the file and does not load it", async () => {
    const storage = await mkdtemp(path.join(tmpdir(), "streamsink-hostile-kill-"));
    const settings = { ...testSettings({ path: models.tinycoderF16 }), storagePath: path.join(storage, "kv") };
    const first = await startServer(settings);
    try {
      await first.waitForStatus((s) => s.state === "loading" && /^Loading /.test(s.message), 30_000);
      first.process.kill("SIGKILL");
      await new Promise((resolve) => first.process.once("exit", resolve));
      const second = await startServer(settings);
      try {
        const status = await second.waitForStatus((s) => s.state === "error" || s.state === "ready", 60_000);
        assert.equal(status.state, "error", status.message);
        assert.match(status.message, /crashed while loading .*tinycoder-16m-f16\.gguf/);
        assert.equal(second.process.exitCode, null, "the restarted server is running");
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
      await rm(storage, { recursive: true, force: true });
    }
  });


  it("is refused once by the restarted server with a message naming the file, then loads when chosen again", async () => {
    const storage = await mkdtemp(path.join(tmpdir(), "streamsink-hostile-storage-"));
    // What a load leaves behind when llama.cpp kills the process: the marker of a process that is gone.
    const markers = new LoadMarkers(path.join(storage, "load-markers"));
    const noSuchProcess = 2 ** 22 + 12_345;
    await markers.write(models.stories, (await checkModelFile(undefined, models.stories)).sizeBytes, "loading", noSuchProcess);
    const marker = path.join(storage, "load-markers");
    // The client's storage path is the KV folder; markers live beside it.
    const settings = { ...testSettings({ path: models.stories }), storagePath: path.join(storage, "kv") };
    const server = await startServer(settings);
    try {
      const refused = await server.waitForStatus((s) => s.state === "error", 30_000);
      assert.match(refused.message, /crashed while loading .*stories260K\.gguf/);
      assert.match(refused.message, /Pick another model, or select this one again to retry/);
      await assert.rejects(
        server.connection.sendRequest(GenerateRequest.type, { prompt: "x", maxTokens: 2 }),
        (error: { code: number }) => error.code === ErrorCodes.modelNotReady,
      );
      await server.configure(settings);
      await server.waitForStatus((s) => s.state === "ready" && s.modelPath === models.stories, 60_000);
      assert.equal(typeof (await generates(server)), "string");
      assert.deepEqual(await readdir(marker), [], "no marker left after a load that returned");
    } finally {
      await server.stop();
      await rm(storage, { recursive: true, force: true });
    }
  });
});
