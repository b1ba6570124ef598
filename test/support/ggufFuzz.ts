// A corpus of malformed GGUF files made from a real model (tinycoder): absurd counts, string
// lengths and array lengths, wrong and unknown types, zero-sized and overflowing dimensions,
// offsets past the end, truncations at many offsets, metadata llama.cpp would GGML_ASSERT on (zero
// vocabulary, zero heads, 4e9 layers), and file-system objects that are not files (FIFO, folder,
// symlink loop, device, empty file). Each case knows the message it must get.
// Files keep the real header and a sparse (zero-filled) data section of the real size, so 60+ cases
// cost a few MB of disk. Used by test/model/hostileModels.test.ts and bench/hostile.ts.
import { execFileSync } from "node:child_process";
import { mkdir, readFile, rm, symlink, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { encode, Reader, rewriteGgufArchitecture, str, T, u32, u64, type GgufValue } from "./ggufRewrite";

export interface FuzzCase {
  name: string;
  /** Writes the case into `dir`; resolves with the path to configure as the model. */
  create(dir: string): Promise<string>;
  /** What the status message must say. */
  expect: RegExp;
}

interface KvLayout {
  key: string;
  keyPos: number;
  typePos: number;
  valuePos: number;
  end: number;
  raw: Buffer; // type + value
}

interface TensorLayout {
  name: string;
  namePos: number;
  dimsCountPos: number;
  typePos: number;
  offsetPos: number;
  end: number;
  dims: number[];
}

export interface GgufLayout {
  header: Buffer;
  fileSize: number;
  version: number;
  kvs: KvLayout[];
  tensors: TensorLayout[];
  tensorInfoEnd: number;
  dataOffset: number;
  alignment: number;
}

/** Positions of every field in the header of `source` (a valid GGUF v2/v3). */
export async function ggufLayout(source: string): Promise<GgufLayout> {
  const buf = await readFile(source);
  const r = new Reader(buf, 4);
  const version = r.u32();
  const tensorCount = r.u64();
  const kvCount = r.u64();
  const kvs: KvLayout[] = [];
  let alignment = 32;
  for (let i = 0; i < kvCount; i++) {
    const keyPos = r.pos;
    const key = r.str();
    const typePos = r.pos;
    const type = r.u32();
    const valuePos = r.pos;
    r.skipValue(type);
    if (key === "general.alignment") alignment = buf.readUInt32LE(valuePos);
    kvs.push({ key, keyPos, typePos, valuePos, end: r.pos, raw: Buffer.from(buf.subarray(typePos, r.pos)) });
  }
  const tensors: TensorLayout[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const namePos = r.pos;
    const name = r.str();
    const dimsCountPos = r.pos;
    const count = r.u32();
    const dims: number[] = [];
    for (let d = 0; d < count; d++) dims.push(r.u64());
    const typePos = r.pos;
    r.pos += 4;
    const offsetPos = r.pos;
    r.pos += 8;
    tensors.push({ name, namePos, dimsCountPos, typePos, offsetPos, end: r.pos, dims });
  }
  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  return {
    header: Buffer.from(buf.subarray(0, dataOffset)),
    fileSize: buf.length,
    version,
    kvs,
    tensors,
    tensorInfoEnd: r.pos,
    dataOffset,
    alignment,
  };
}

/** Writes `head` and extends the file (sparse) to `size` bytes. */
async function writeSparse(file: string, head: Buffer, size: number): Promise<void> {
  await writeFile(file, head.length > size ? head.subarray(0, size) : head);
  if (size > head.length) await truncate(file, size);
}

function patched(layout: GgufLayout, pos: number, bytes: Buffer): Buffer {
  const copy = Buffer.from(layout.header);
  bytes.copy(copy, pos);
  return copy;
}

type KvEdit = { drop: true } | { value: GgufValue } | { raw: Buffer };

/** Re-assembles the header with metadata edits (same tensors, same data size). */
function rebuilt(layout: GgufLayout, edits: Record<string, KvEdit>, options: { kvCount?: bigint; tensorCount?: bigint } = {}): { head: Buffer; size: number } {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  for (const kv of layout.kvs) {
    seen.add(kv.key);
    const edit = edits[kv.key];
    if (edit && "drop" in edit) continue;
    const raw = edit === undefined ? kv.raw : "value" in edit ? encode(edit.value) : edit.raw;
    parts.push(str(kv.key), raw);
  }
  for (const [key, edit] of Object.entries(edits)) {
    if (seen.has(key) || "drop" in edit) continue;
    parts.push(str(key), "value" in edit ? encode(edit.value) : edit.raw);
  }
  const kvCount = parts.length / 2;
  const firstTensor = layout.tensors[0]?.namePos ?? layout.tensorInfoEnd;
  const tensorInfo = layout.header.subarray(firstTensor, layout.tensorInfoEnd);
  const head = Buffer.concat([
    Buffer.from("GGUF", "ascii"),
    u32(layout.version),
    u64(options.tensorCount ?? BigInt(layout.tensors.length)),
    u64(options.kvCount ?? BigInt(kvCount)),
    ...parts,
    tensorInfo,
  ]);
  const padded = Math.ceil(head.length / layout.alignment) * layout.alignment;
  const full = Buffer.concat([head, Buffer.alloc(padded - head.length)]);
  return { head: full, size: padded + (layout.fileSize - layout.dataOffset) };
}

const damaged = /is a damaged GGUF file/;
const cannotRun = /describes a model llama\.cpp cannot run/;
const truncated = /is truncated/;
const notGguf = /is not a GGUF model file/;

/** The whole corpus (≥ 60 cases) built from `source`'s real header. */
export async function ggufFuzzCases(source: string): Promise<FuzzCase[]> {
  const layout = await ggufLayout(source);
  const cases: FuzzCase[] = [];
  const kv = (key: string): KvLayout => {
    const found = layout.kvs.find((entry) => entry.key === key);
    if (!found) throw new Error(`${source} has no ${key}`);
    return found;
  };
  const arch = String(new Reader(kv("general.architecture").raw, 4).str());
  const fileCase = (name: string, expect: RegExp, make: () => { head: Buffer; size: number }): void => {
    cases.push({
      name,
      expect,
      create: async (dir) => {
        const file = path.join(dir, `${name.replace(/[^a-z0-9]+/gi, "-")}.gguf`);
        const { head, size } = make();
        await writeSparse(file, head, size);
        return file;
      },
    });
  };
  const patch = (name: string, expect: RegExp, pos: number, bytes: Buffer): void =>
    fileCase(name, expect, () => ({ head: patched(layout, pos, bytes), size: layout.fileSize }));
  const edit = (name: string, expect: RegExp, edits: Record<string, KvEdit>): void =>
    fileCase(name, expect, () => rebuilt(layout, edits));
  const tiny = (name: string, expect: RegExp, head: Buffer): void => fileCase(name, expect, () => ({ head, size: head.length }));
  const magic = Buffer.from("GGUF", "ascii");

  // Counts.
  tiny("24 bytes claiming 2^62 tensors", /damaged GGUF file: it claims 4611686018427387904 tensors/, Buffer.concat([magic, u32(3), u64(2n ** 62n), u64(0)]));
  tiny("24 bytes claiming 2^62 metadata entries", /damaged GGUF file: it claims 4611686018427387904 metadata entries/, Buffer.concat([magic, u32(3), u64(0), u64(2n ** 62n)]));
  tiny("24 bytes claiming 2^64-1 tensors", damaged, Buffer.concat([magic, u32(3), u64(2n ** 64n - 1n), u64(0)]));
  tiny("header with no tensors and no metadata", cannotRun, Buffer.concat([magic, u32(3), u64(0), u64(0)]));
  patch("real header claiming 2^62 tensors", damaged, 8, u64(2n ** 62n));
  patch("real header claiming 2^62 metadata entries", damaged, 16, u64(2n ** 62n));
  patch("one metadata entry more than written", /damaged|truncated/, 16, u64(BigInt(layout.kvs.length + 1)));
  patch("one tensor more than written", /damaged|truncated/, 8, u64(BigInt(layout.tensors.length + 1)));
  patch("zero metadata entries claimed", /damaged|truncated/, 16, u64(0));
  patch("zero tensors claimed", cannotRun, 8, u64(0));
  // Versions and magic.
  tiny("magic only", truncated, magic);
  tiny("version 1", damaged, Buffer.concat([magic, u32(1), u32(0), u32(0)]));
  patch("version 0xFFFFFFFF", damaged, 4, u32(0xffff_ffff));
  patch("version 4", damaged, 4, u32(4));
  patch("lower-case magic", notGguf, 0, Buffer.from("gguf", "ascii"));
  // String lengths.
  const first = layout.kvs[0]!;
  patch("first key length 2^31+1", /claims 2147483649 bytes/, first.keyPos, u64(2n ** 31n + 1n));
  patch("first key length 2^64-1", damaged, first.keyPos, u64(2n ** 64n - 1n));
  patch("architecture value length 2^31+1", damaged, kv("general.architecture").valuePos, u64(2n ** 31n + 1n));
  const tokens = kv("tokenizer.ggml.tokens");
  patch("first token length 2^31+1", damaged, tokens.valuePos + 4 + 8, u64(2n ** 31n + 1n));
  patch("first token length past the end of the file", /damaged|truncated/, tokens.valuePos + 4 + 8, u64(BigInt(layout.fileSize)));
  const tensor0 = layout.tensors[0]!;
  patch("tensor name length 2^31+1", damaged, tensor0.namePos, u64(2n ** 31n + 1n));
  patch("tensor name length 64 (past GGML_MAX_NAME)", damaged, tensor0.namePos, u64(64n));
  patch("empty first key", /damaged|cannot run/, first.keyPos, u64(0n));
  // Arrays.
  patch("token array length 2^62", damaged, tokens.valuePos + 4, u64(2n ** 62n));
  patch("token array of arrays", damaged, tokens.valuePos, u32(T.array));
  patch("token array of unknown type 13", damaged, tokens.valuePos, u32(13));
  const scores = kv("tokenizer.ggml.scores");
  patch("score array length 2^40", damaged, scores.valuePos + 4, u64(2n ** 40n));
  // Types.
  patch("value type 13", damaged, kv("general.name").typePos, u32(13));
  patch("value type 0xFFFFFFFF", damaged, kv("general.name").typePos, u32(0xffff_ffff));
  patch("architecture stored as u32", damaged, kv("general.architecture").typePos, u32(T.u32));
  patch("tensor type 4 (removed from ggml)", damaged, tensor0.typePos, u32(4));
  patch("tensor type 1000", damaged, tensor0.typePos, u32(1000));
  edit("block count stored as a string", cannotRun, { [`${arch}.block_count`]: { value: { type: "string", value: "8" } } });
  edit("head count stored as a bool", cannotRun, { [`${arch}.attention.head_count`]: { value: { type: "bool", value: true } } });
  // Dimensions.
  const dims0 = tensor0.dimsCountPos + 4;
  patch("zero-sized dimension", damaged, dims0, u64(0n));
  patch("zero dimensions", damaged, tensor0.dimsCountPos, u32(0));
  patch("five dimensions", damaged, tensor0.dimsCountPos, u32(5));
  patch("dimension 2^62", damaged, dims0, u64(2n ** 62n));
  patch("element count overflow", damaged, dims0 + 8, u64(2n ** 60n));
  patch("row not a multiple of the block size", damaged, dims0, u64(BigInt(tensor0.dims[0]! - 1)));
  // Offsets.
  patch("first tensor offset 2^60", /damaged|truncated/, tensor0.offsetPos, u64(2n ** 60n));
  const last = layout.tensors[layout.tensors.length - 1]!;
  patch("last tensor offset past the end of the file", /damaged|truncated/, last.offsetPos, u64(BigInt(layout.fileSize)));
  patch("tensor offset not aligned", damaged, layout.tensors[1]!.offsetPos, u64(BigInt(layout.header.readBigUInt64LE(layout.tensors[1]!.offsetPos)) + 1n));
  patch("tensor offsets out of order", damaged, tensor0.offsetPos, u64(BigInt(layout.header.readBigUInt64LE(layout.tensors[1]!.offsetPos))));
  edit("alignment 0", damaged, { "general.alignment": { value: { type: "u32", value: 0 } } });
  edit("alignment 3", damaged, { "general.alignment": { value: { type: "u32", value: 3 } } });
  edit("alignment 2^31", damaged, { "general.alignment": { value: { type: "u32", value: 2 ** 31 } } });
  fileCase("data section cut short by one byte", truncated, () => ({ head: layout.header, size: layout.fileSize - 1 }));
  // What llama.cpp would GGML_ASSERT on.
  const emptyStrings = Buffer.concat([u32(T.array), u32(T.string), u64(0)]);
  edit("zero vocabulary", cannotRun, {
    "tokenizer.ggml.tokens": { raw: emptyStrings },
    "tokenizer.ggml.scores": { drop: true },
    "tokenizer.ggml.token_type": { drop: true },
  });
  edit("vocabulary without tokens", cannotRun, { "tokenizer.ggml.tokens": { drop: true } });
  edit("scores shorter than the vocabulary", cannotRun, { "tokenizer.ggml.scores": { value: { type: "u32[]", value: [1, 2, 3] } } });
  edit("head count 0", cannotRun, { [`${arch}.attention.head_count`]: { value: { type: "u32", value: 0 } } });
  edit("head count kv 0", cannotRun, { [`${arch}.attention.head_count_kv`]: { value: { type: "u32", value: 0 } } });
  edit("per-layer head counts all 0", cannotRun, { [`${arch}.attention.head_count`]: { value: { type: "u32[]", value: [0, 0, 0, 0, 0, 0, 0, 0] } } });
  edit("block count 4e9", cannotRun, { [`${arch}.block_count`]: { value: { type: "u32", value: 4_000_000_000 } } });
  edit("block count 0", cannotRun, { [`${arch}.block_count`]: { value: { type: "u32", value: 0 } } });
  edit("block count missing", cannotRun, { [`${arch}.block_count`]: { drop: true } });
  edit("context length 0", cannotRun, { [`${arch}.context_length`]: { value: { type: "u32", value: 0 } } });
  edit("embedding length 0", cannotRun, { [`${arch}.embedding_length`]: { value: { type: "u32", value: 0 } } });
  edit("architecture missing", cannotRun, { "general.architecture": { drop: true } });
  edit("architecture empty", cannotRun, { "general.architecture": { value: { type: "string", value: "" } } });
  edit("unknown architecture", /Could not load|cannot run/, { "general.architecture": { value: { type: "string", value: "nosucharch" } } });
  cases.push({
    name: "unknown architecture (keys renamed: only llama.cpp can tell)",
    expect: /Could not load .*(unknown|architecture)/i,
    create: async (dir) => {
      const file = path.join(dir, "unknown-architecture-renamed.gguf");
      await rewriteGgufArchitecture(source, file, "nosucharch", {});
      return file;
    },
  });
  fileCase("duplicate metadata key", damaged, () => {
    const { head, size } = rebuilt(layout, {}, { kvCount: BigInt(layout.kvs.length + 1) });
    // Insert a second copy of the first entry right after the counts.
    const entry = layout.header.subarray(first.keyPos, first.end);
    return { head: Buffer.concat([head.subarray(0, 24), entry, head.subarray(24)]), size: size + entry.length };
  });
  patch("duplicate tensor name", damaged, layout.tensors[1]!.namePos, layout.header.subarray(tensor0.namePos, tensor0.dimsCountPos));
  // Truncations of the real file at many offsets.
  const cuts = [5, 8, 12, 16, 20, 24, 25, first.end - 1, tokens.valuePos + 100, Math.floor(layout.tensorInfoEnd / 2), layout.tensorInfoEnd - 3, layout.dataOffset, layout.dataOffset + 1000, Math.floor(layout.fileSize / 2)];
  for (const cut of cuts) fileCase(`truncated at byte ${cut}`, /truncated|damaged/, () => ({ head: layout.header, size: cut }));
  // File-system objects that are not model files.
  const fsCase = (name: string, expect: RegExp, make: (file: string) => Promise<void>): void => {
    cases.push({
      name,
      expect,
      create: async (dir) => {
        const file = path.join(dir, `${name.replace(/[^a-z0-9]+/gi, "-")}.gguf`);
        await rm(file, { recursive: true, force: true });
        await rm(`${file}.other`, { force: true });
        await make(file);
        return file;
      },
    });
  };
  fsCase("a FIFO named model.gguf", /named pipe \(FIFO\)/, async (file) => {
    execFileSync("mkfifo", [file]);
  });
  fsCase("a directory named model.gguf", /is a folder/, async (file) => {
    await mkdir(file);
  });
  fsCase("a symlink loop", /symbolic link that loops/, async (file) => {
    await symlink(`${file}.other`, file);
    await symlink(file, `${file}.other`);
  });
  fsCase("a dangling symlink", /not found/, async (file) => {
    await symlink(`${file}.missing`, file);
  });
  fsCase("a symlink to /dev/zero", /is a device/, async (file) => {
    await symlink("/dev/zero", file);
  });
  fsCase("an empty file", notGguf, async (file) => {
    await writeFile(file, "");
  });
  fsCase("a missing file", /not found/, async () => undefined);
  return cases;
}
