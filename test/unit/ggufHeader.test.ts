// The bounded GGUF reader (server/model/ggufHeader.ts) and the llama.cpp sanity check
// (server/model/ggufSanity.ts) on small GGUFs built in memory: a minimal valid model parses; absurd
// counts, lengths and dimensions are refused with a reason and without reading or allocating what
// they claim; the time bound holds. Plus the load messages: library TypeErrors and node-llama-cpp's
// "Object is disposed" never reach the user as such.
import assert from "node:assert/strict";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { defaultGgufLimits, GgufHeaderError, readGgufHeader, type GgufReadLimits } from "../../server/model/ggufHeader";
import { checkGgufSanity, GgufSanityError } from "../../server/model/ggufSanity";
import { loadFailureMessage } from "../../server/model/loadMessages";
import { errorMessage } from "../../server/log";
import { encode, str, u32, u64, type GgufValue } from "../support/ggufRewrite";

let scratch: string;
before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "streamsink-gguf-header-"));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/**
 * A GGUF v3 with `kvs`, a vocabulary of `tokens` strings and one F32 tensor of `dims` (its data
 * included unless `dataBytes` says otherwise).
 */
function build(kvs: Record<string, GgufValue>, tokens = 2, dims: bigint[] = [4n], dataBytes?: number): Buffer {
  const entries = Object.entries(kvs).map(([key, value]) => Buffer.concat([str(key), encode(value)]));
  const vocabulary = Array.from({ length: tokens }, (_, i) => str(`t${i}`));
  entries.push(Buffer.concat([str("tokenizer.ggml.tokens"), u32(9), u32(8), u64(tokens), ...vocabulary]));
  const tensor = Buffer.concat([str("w"), u32(dims.length), ...dims.map((d) => u64(d)), u32(0), u64(0)]);
  const head = Buffer.concat([Buffer.from("GGUF"), u32(3), u64(1), u64(entries.length), ...entries, tensor]);
  const padded = Math.ceil(head.length / 32) * 32;
  const data = dataBytes ?? Number(dims.reduce((a, b) => a * b, 1n)) * 4;
  return Buffer.concat([head, Buffer.alloc(padded - head.length), Buffer.alloc(data)]);
}

const model: Record<string, GgufValue> = {
  "general.architecture": { type: "string", value: "llama" },
  "llama.block_count": { type: "u32", value: 2 },
  "llama.context_length": { type: "u32", value: 128 },
  "llama.embedding_length": { type: "u32", value: 8 },
  "llama.attention.head_count": { type: "u32", value: 2 },
};

let counter = 0;
async function read(bytes: Buffer, limits: GgufReadLimits = defaultGgufLimits) {
  const file = path.join(scratch, `case-${counter++}.gguf`);
  await writeFile(file, bytes);
  const handle = await open(file, "r");
  try {
    return await readGgufHeader(handle, bytes.length, limits);
  } finally {
    await handle.close();
  }
}

async function rejects(bytes: Buffer, reason: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(read(bytes), (error: unknown) => {
    assert.ok(error instanceof GgufHeaderError, String(error));
    assert.equal(error.reason, reason, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

describe("readGgufHeader", () => {
  it("parses a minimal valid model, and the sanity check passes it", async () => {
    const header = await read(build(model, 3));
    assert.equal(header.version, 3);
    assert.equal(header.tensors.length, 1);
    assert.deepEqual(header.tensors[0], { name: "w", dimensions: [4], ggmlType: 0, offset: 0, byteSize: 16 });
    assert.deepEqual(header.metadata.get("tokenizer.ggml.tokens"), { elementType: 8, length: 3 });
    assert.deepEqual(checkGgufSanity(header), { architecture: "llama", vocabularySize: 3, blockCount: 2 });
  });

  it("refuses absurd counts from 24 bytes without allocating them", async () => {
    await rejects(Buffer.concat([Buffer.from("GGUF"), u32(3), u64(2n ** 62n), u64(0)]), "count", /4611686018427387904 tensors/);
    await rejects(Buffer.concat([Buffer.from("GGUF"), u32(3), u64(0), u64(2n ** 62n)]), "count", /metadata entries/);
    await rejects(Buffer.concat([Buffer.from("GGUF"), u32(3), u64(5), u64(0)]), "truncated", /claims 5 tensors but only 8 bytes follow/);
  });

  it("refuses string lengths of 2^31+1 and past the end, and unknown types", async () => {
    const good = build(model, 2);
    const longKey = Buffer.from(good);
    longKey.writeBigUInt64LE(2n ** 31n + 1n, 24);
    await rejects(longKey, "string", /2147483649 bytes/);
    const pastEnd = Buffer.from(good);
    pastEnd.writeBigUInt64LE(BigInt(good.length), 24);
    await rejects(pastEnd, "truncated");
    const badType = Buffer.from(good);
    badType.writeUInt32LE(99, 24 + 8 + "general.architecture".length);
    await rejects(badType, "type", /unknown value type 99/);
  });

  it("refuses zero-sized and overflowing dimensions, and data past the end of the file", async () => {
    await rejects(build(model, 2, [0n]), "dimensions", /size 0/);
    await rejects(build(model, 2, [2n ** 40n, 2n ** 40n], 0), "dimensions", /more elements/);
    await rejects(build(model, 2, [4n], 15), "offset", /past the end of the file/);
  });

  it("stops at its time bound", async () => {
    await assert.rejects(read(build(model, 50_000), { ...defaultGgufLimits, deadlineMs: 0 }), (error: unknown) => {
      assert.ok(error instanceof GgufHeaderError);
      assert.equal(error.reason, "budget");
      return true;
    });
  });
});

describe("checkGgufSanity", () => {
  const refuses = async (kvs: Record<string, GgufValue>, tokens: number, reason: string) => {
    const header = await read(build(kvs, tokens));
    assert.throws(() => checkGgufSanity(header), (error: unknown) => error instanceof GgufSanityError && error.reason === reason);
  };
  it("refuses what llama.cpp would abort on", async () => {
    await refuses(model, 0, "vocabulary");
    await refuses({ ...model, "llama.attention.head_count": { type: "u32", value: 0 } }, 2, "headCount");
    await refuses({ ...model, "llama.block_count": { type: "u32", value: 4_000_000_000 } }, 2, "blockCount");
    await refuses({ ...model, "llama.context_length": { type: "u32", value: 0 } }, 2, "contextLength");
    await refuses({ ...model, "llama.embedding_length": { type: "u32", value: 0 } }, 2, "embeddingLength");
  });
  it("lets a recurrent model have no attention heads", async () => {
    const mamba: Record<string, GgufValue> = {
      "general.architecture": { type: "string", value: "mamba" },
      "mamba.block_count": { type: "u32", value: 2 },
      "mamba.context_length": { type: "u32", value: 128 },
      "mamba.embedding_length": { type: "u32", value: 8 },
      "mamba.attention.head_count": { type: "u32", value: 0 },
    };
    assert.equal(checkGgufSanity(await read(build(mamba, 2))).architecture, "mamba");
  });
});

describe("load messages", () => {
  it("never show a library's TypeError, nor 'Object is disposed'", () => {
    const typeError = new TypeError("Cannot read properties of undefined (reading 'architecture')");
    assert.doesNotMatch(loadFailureMessage("/m.gguf", typeError), /Cannot read properties/);
    assert.match(loadFailureMessage("/m.gguf", typeError), /Could not load \/m\.gguf: its metadata could not be read/);
    assert.doesNotMatch(loadFailureMessage("/m.gguf", new TypeError("NaN cannot be converted to a BigInt")), /BigInt/);
    const disposed = new Error("Object is disposed");
    disposed.name = "DisposedError";
    assert.match(errorMessage(disposed), /the model was reloaded or changed while this request ran/);
  });
});
