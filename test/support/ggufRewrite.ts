// A minimal GGUF (v2/v3) metadata rewriter for tests: copies a model file, renames its architecture
// (and every "<old arch>." key), and adds or replaces key/value pairs. Tensor infos and tensor data
// are copied byte for byte (their offsets are relative to the data section, so they stay valid).
// Used to make a real, loadable model whose metadata says it must not be shifted.
import { readFile, writeFile } from "node:fs/promises";

export type GgufValue =
  | { type: "u32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "u32[]"; value: number[] }
  | { type: "bool[]"; value: boolean[] };

export const T = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 };
const scalarSize: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
  ) {}
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    const v = Number(this.buf.readBigUInt64LE(this.pos));
    this.pos += 8;
    return v;
  }
  str(): string {
    const n = this.u64();
    const s = this.buf.toString("utf8", this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  skipValue(type: number): void {
    if (type === T.string) this.str();
    else if (type === T.array) {
      const inner = this.u32();
      const count = this.u64();
      for (let i = 0; i < count; i++) this.skipValue(inner);
    } else {
      const size = scalarSize[type];
      if (size == null) throw new Error(`GGUF: unknown value type ${type}`);
      this.pos += size;
    }
  }
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
export function u64(v: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}
export function str(s: string): Buffer {
  const bytes = Buffer.from(s, "utf8");
  return Buffer.concat([u64(bytes.length), bytes]);
}
export function encode(v: GgufValue): Buffer {
  switch (v.type) {
    case "u32":
      return Buffer.concat([u32(T.u32), u32(v.value)]);
    case "f32": {
      const b = Buffer.alloc(4);
      b.writeFloatLE(v.value);
      return Buffer.concat([u32(T.f32), b]);
    }
    case "bool":
      return Buffer.concat([u32(T.bool), Buffer.from([v.value ? 1 : 0])]);
    case "string":
      return Buffer.concat([u32(T.string), str(v.value)]);
    case "u32[]":
      return Buffer.concat([u32(T.array), u32(T.u32), u64(v.value.length), ...v.value.map(u32)]);
    case "bool[]":
      return Buffer.concat([u32(T.array), u32(T.bool), u64(v.value.length), Buffer.from(v.value.map((b) => (b ? 1 : 0)))]);
  }
}

export async function rewriteGgufArchitecture(
  source: string,
  target: string,
  architecture: string,
  extra: Record<string, GgufValue>,
  dropTensor: (name: string) => boolean = () => false,
): Promise<void> {
  const buf = await readFile(source);
  const r = new Reader(buf);
  if (buf.toString("ascii", 0, 4) !== "GGUF") throw new Error(`${source} is not a GGUF file`);
  r.pos = 4;
  const version = r.u32();
  if (version < 2) throw new Error(`GGUF v${version} is not supported`);
  const tensorCount = r.u64();
  const kvCount = r.u64();
  let oldArch = "";
  let alignment = 32;
  const kvs: { key: string; raw: Buffer }[] = [];
  for (let i = 0; i < kvCount; i++) {
    const key = r.str();
    const start = r.pos;
    const type = r.u32();
    const valueStart = r.pos;
    r.skipValue(type);
    if (key === "general.architecture") oldArch = new Reader(buf, valueStart).str();
    if (key === "general.alignment") alignment = buf.readUInt32LE(valueStart);
    kvs.push({ key, raw: buf.subarray(start, r.pos) });
  }
  const infos: { name: string; head: Buffer; offset: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const start = r.pos;
    const name = r.str();
    const dims = r.u32();
    r.pos += 8 * dims + 4;
    const headEnd = r.pos;
    const offset = r.u64();
    infos.push({ name, head: buf.subarray(start, headEnd), offset });
  }
  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  const dataLength = buf.length - dataStart;
  // Tensor data is contiguous: a tensor's padded size is the gap to the next offset.
  const byOffset = [...infos].sort((a, b) => a.offset - b.offset);
  const size = new Map(byOffset.map((t, i) => [t.name, (byOffset[i + 1]?.offset ?? dataLength) - t.offset]));
  const kept = infos.filter((t) => !dropTensor(t.name));
  let running = 0;
  const tensorHeads: Buffer[] = [];
  const dataParts: Buffer[] = [];
  for (const t of kept) {
    const n = size.get(t.name)!;
    tensorHeads.push(Buffer.concat([t.head, u64(running)]));
    dataParts.push(buf.subarray(dataStart + t.offset, dataStart + t.offset + n));
    running += n;
  }
  const tensorInfo = Buffer.concat(tensorHeads);
  const data = Buffer.concat(dataParts);

  const out = new Map<string, Buffer>();
  for (const { key, raw } of kvs) {
    const renamed = oldArch !== "" && key.startsWith(`${oldArch}.`) ? `${architecture}.${key.slice(oldArch.length + 1)}` : key;
    out.set(renamed, raw);
  }
  out.set("general.architecture", encode({ type: "string", value: architecture }));
  for (const [key, value] of Object.entries(extra)) out.set(key, encode(value));

  const header = Buffer.concat([
    Buffer.from("GGUF", "ascii"),
    u32(version),
    u64(kept.length),
    u64(out.size),
    ...[...out].map(([key, raw]) => Buffer.concat([str(key), raw])),
    tensorInfo,
  ]);
  const padded = Math.ceil(header.length / alignment) * alignment;
  await writeFile(target, Buffer.concat([header, Buffer.alloc(padded - header.length), data]));
}
