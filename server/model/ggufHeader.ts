// A bounded GGUF header reader of our own (no node-llama-cpp): reads the magic, version, counts,
// metadata and tensor infos of a GGUF file through an fs handle in bounded chunks, and rejects —
// with a typed reason — every count, length, type, dimension or offset that the file cannot hold,
// before anything else parses it. Whatever a file says, this reads at most `maxReadBytes` bytes,
// keeps at most `maxKeptElements` array elements, and stops after `deadlineMs`.
// Layout: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (v2/v3: 64-bit counts).
import type { FileHandle } from "node:fs/promises";
import { ggmlTypeTraits } from "./ggmlTypes";

export type GgufRejectReason =
  | "magic"
  | "version"
  | "count"
  | "string"
  | "array"
  | "type"
  | "dimensions"
  | "offset"
  | "alignment"
  | "truncated"
  | "duplicate"
  | "budget";

export class GgufHeaderError extends Error {
  constructor(
    readonly reason: GgufRejectReason,
    message: string,
  ) {
    super(message);
    this.name = "GgufHeaderError";
  }
}

export type GgufScalar = number | bigint | boolean | string;
/** An array value: its element type and length always; its elements only when short enough to keep. */
export interface GgufArray {
  elementType: number;
  length: number;
  values?: GgufScalar[];
}
export type GgufValue = GgufScalar | GgufArray;

export interface GgufTensorInfo {
  name: string;
  dimensions: number[];
  ggmlType: number;
  /** Relative to the start of the data section. */
  offset: number;
  byteSize: number;
}

export interface GgufHeader {
  version: number;
  fileSize: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute file offset of the data section. */
  dataOffset: number;
  /** Bytes of header read (the work done). */
  bytesRead: number;
}

export interface GgufReadLimits {
  maxStringBytes: number;
  maxArrayElements: number;
  /** Array elements kept in the result (longer arrays keep only their length). */
  maxKeptElements: number;
  maxTensors: number;
  maxKeys: number;
  maxReadBytes: number;
  deadlineMs: number;
}

export const defaultGgufLimits: GgufReadLimits = {
  maxStringBytes: 1024 * 1024,
  maxArrayElements: 16 * 1024 * 1024,
  maxKeptElements: 4096,
  maxTensors: 1_000_000,
  maxKeys: 100_000,
  maxReadBytes: 512 * 1024 * 1024,
  deadlineMs: 5000,
};

export const ggufValueType = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;
const scalarBytes: Readonly<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const maxDims = 4;
const maxTensorName = 63; // GGML_MAX_NAME - 1
const chunkBytes = 256 * 1024;
const deadlineCheckEvery = 4096;

/** Sequential reads through a FileHandle in bounded chunks, never past the file's size. */
class BoundedReader {
  private buffer = Buffer.alloc(0);
  private bufferStart = 0;
  pos = 0;
  bytesRead = 0;
  private steps = 0;
  private readonly started = performance.now();

  constructor(
    private readonly handle: FileHandle,
    readonly fileSize: number,
    private readonly limits: GgufReadLimits,
  ) {}

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  /** Called once per item parsed: enforces the time bound. */
  step(): void {
    if (++this.steps % deadlineCheckEvery !== 0) return;
    this.checkDeadline();
  }

  private checkDeadline(): void {
    if (performance.now() - this.started > this.limits.deadlineMs) {
      throw new GgufHeaderError("budget", `reading its header took longer than ${this.limits.deadlineMs} ms`);
    }
  }

  private async ensure(n: number, what: string): Promise<void> {
    if (n > this.remaining) {
      throw new GgufHeaderError("truncated", `the file ends inside ${what} (at byte ${this.pos} of ${this.fileSize})`);
    }
    const offsetInBuffer = this.pos - this.bufferStart;
    if (offsetInBuffer >= 0 && offsetInBuffer + n <= this.buffer.length) return;
    const length = Math.min(Math.max(n, chunkBytes), this.remaining);
    if (this.bytesRead + length > this.limits.maxReadBytes) {
      throw new GgufHeaderError("budget", `its header is larger than ${this.limits.maxReadBytes} bytes`);
    }
    const buffer = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(buffer, filled, length - filled, this.pos + filled);
      if (bytesRead === 0) throw new GgufHeaderError("truncated", `the file ended while reading ${what}`);
      filled += bytesRead;
    }
    this.bytesRead += length;
    this.buffer = buffer;
    this.bufferStart = this.pos;
  }

  async bytes(n: number, what: string): Promise<Buffer> {
    await this.ensure(n, what);
    const start = this.pos - this.bufferStart;
    this.pos += n;
    return this.buffer.subarray(start, start + n);
  }

  async u32(what: string): Promise<number> {
    return (await this.bytes(4, what)).readUInt32LE(0);
  }

  async u64(what: string): Promise<bigint> {
    return (await this.bytes(8, what)).readBigUInt64LE(0);
  }

  /** A u64 count that must be at most `max` (and, with `minItemBytes`, fit in the rest of the file). */
  async count(what: string, max: number, minItemBytes: number): Promise<number> {
    const raw = await this.u64(what);
    const fits = BigInt(Math.floor(this.remaining / Math.max(1, minItemBytes)));
    if (raw > BigInt(max)) throw new GgufHeaderError("count", `it claims ${raw} ${what}, more than any model has (limit ${max})`);
    if (raw > fits) throw new GgufHeaderError("truncated", `it claims ${raw} ${what} but only ${this.remaining} bytes follow`);
    return Number(raw);
  }

  async string(what: string): Promise<string> {
    const length = await this.u64(`the length of ${what}`);
    this.checkStringLength(length, what);
    return (await this.bytes(Number(length), what)).toString("utf8");
  }

  /** Skips `count` strings (only their lengths are read), with the synchronous path while buffered. */
  async skipStrings(count: number, what: string): Promise<void> {
    for (let i = 0; i < count; i++) {
      this.step();
      let offset = this.pos - this.bufferStart;
      if (offset < 0 || offset + 8 > this.buffer.length) {
        await this.ensure(8, `the length of an element of ${what}`);
        offset = this.pos - this.bufferStart;
      }
      // Two u32 halves, not a BigInt: this loop runs once per vocabulary entry.
      const low = this.buffer.readUInt32LE(offset);
      const high = this.buffer.readUInt32LE(offset + 4);
      this.pos += 8;
      if (high !== 0 || low > this.limits.maxStringBytes || low > this.remaining) {
        this.checkStringLength((BigInt(high) << 32n) | BigInt(low), `element ${i} of ${what}`);
      }
      this.pos += low;
    }
  }

  private checkStringLength(length: bigint, what: string): void {
    if (length > BigInt(this.limits.maxStringBytes)) {
      throw new GgufHeaderError("string", `${what} claims ${length} bytes (limit ${this.limits.maxStringBytes})`);
    }
    if (length > BigInt(this.remaining)) {
      throw new GgufHeaderError("truncated", `the file ends inside ${what} (${length} bytes claimed, ${this.remaining} left)`);
    }
  }

  async skip(n: number, what: string): Promise<void> {
    if (n > this.remaining) throw new GgufHeaderError("truncated", `the file ends inside ${what}`);
    this.pos += n;
  }
}

function safeNumber(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
}

async function readScalar(r: BoundedReader, type: number, what: string): Promise<GgufScalar> {
  if (type === ggufValueType.string) return r.string(what);
  const size = scalarBytes[type];
  if (size === undefined) throw new GgufHeaderError("type", `${what} has an unknown value type ${type}`);
  return decodeScalar(await r.bytes(size, what), 0, type);
}

function decodeScalar(b: Buffer, at: number, type: number): GgufScalar {
  switch (type) {
    case ggufValueType.u8:
      return b.readUInt8(at);
    case ggufValueType.i8:
      return b.readInt8(at);
    case ggufValueType.u16:
      return b.readUInt16LE(at);
    case ggufValueType.i16:
      return b.readInt16LE(at);
    case ggufValueType.u32:
      return b.readUInt32LE(at);
    case ggufValueType.i32:
      return b.readInt32LE(at);
    case ggufValueType.f32:
      return b.readFloatLE(at);
    case ggufValueType.bool:
      return b.readUInt8(at) !== 0;
    case ggufValueType.u64:
      return safeNumber(b.readBigUInt64LE(at));
    case ggufValueType.i64:
      return safeNumber(b.readBigInt64LE(at));
    default:
      return b.readDoubleLE(at);
  }
}

async function readValue(r: BoundedReader, limits: GgufReadLimits, key: string): Promise<GgufValue> {
  const type = await r.u32(`the type of ${key}`);
  if (type !== ggufValueType.array) return readScalar(r, type, key);
  const elementType = await r.u32(`the element type of ${key}`);
  if (elementType === ggufValueType.array) throw new GgufHeaderError("type", `${key} is an array of arrays (not allowed in GGUF)`);
  const elementBytes = elementType === ggufValueType.string ? 8 : scalarBytes[elementType];
  if (elementBytes === undefined) throw new GgufHeaderError("type", `${key} has an unknown element type ${elementType}`);
  const raw = await r.u64(`the length of ${key}`);
  if (raw > BigInt(limits.maxArrayElements)) throw new GgufHeaderError("array", `${key} claims ${raw} elements (limit ${limits.maxArrayElements})`);
  if (raw > BigInt(Math.floor(r.remaining / elementBytes))) {
    throw new GgufHeaderError("truncated", `the file ends inside ${key} (${raw} elements claimed, ${r.remaining} bytes left)`);
  }
  const length = Number(raw);
  // String arrays (vocabularies, merges) keep only their length: nothing checked needs the strings.
  if (elementType === ggufValueType.string) {
    await r.skipStrings(length, key);
    return { elementType, length };
  }
  if (length > limits.maxKeptElements) {
    await r.skip(length * elementBytes, key);
    return { elementType, length };
  }
  const data = await r.bytes(length * elementBytes, key);
  const values: GgufScalar[] = new Array(length);
  for (let i = 0; i < length; i++) values[i] = decodeScalar(data, i * elementBytes, elementType);
  return { elementType, length, values };
}

/** Reads and checks the header of the GGUF file open as `handle` (of `fileSize` bytes). */
export async function readGgufHeader(
  handle: FileHandle,
  fileSize: number,
  limits: GgufReadLimits = defaultGgufLimits,
): Promise<GgufHeader> {
  const r = new BoundedReader(handle, fileSize, limits);
  if (fileSize < 4 || (await r.bytes(4, "the magic")).toString("latin1") !== "GGUF") {
    throw new GgufHeaderError("magic", 'it does not start with "GGUF"');
  }
  const version = await r.u32("the version");
  if (version !== 2 && version !== 3) {
    throw new GgufHeaderError("version", `its GGUF version is ${version}; llama.cpp reads versions 2 and 3`);
  }
  // A tensor info is at least 8 (name length) + 4 (dims) + 8 (one dim) + 4 (type) + 8 (offset) bytes; a key/value 8 + 4 + 1.
  const tensorCount = await r.count("tensors", limits.maxTensors, 32);
  const keyCount = await r.count("metadata entries", limits.maxKeys, 13);
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < keyCount; i++) {
    r.step();
    const key = await r.string(`the name of metadata entry ${i}`);
    if (metadata.has(key)) throw new GgufHeaderError("duplicate", `metadata key ${key} appears twice`);
    metadata.set(key, await readValue(r, limits, key));
  }
  let alignment = 32;
  const alignmentValue = metadata.get("general.alignment");
  if (alignmentValue !== undefined) {
    if (typeof alignmentValue !== "number" || alignmentValue < 1 || alignmentValue > 65_536 || (alignmentValue & (alignmentValue - 1)) !== 0) {
      throw new GgufHeaderError("alignment", `general.alignment is ${String(alignmentValue)}, not a power of two up to 65536`);
    }
    alignment = alignmentValue;
  }
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    r.step();
    tensors.push(await readTensorInfo(r, i, names));
  }
  const dataOffset = tensorCount > 0 ? Math.ceil(r.pos / alignment) * alignment : r.pos;
  checkTensorLayout(tensors, alignment, fileSize - dataOffset);
  return { version, fileSize, metadata, tensors, alignment, dataOffset, bytesRead: r.bytesRead };
}

async function readTensorInfo(r: BoundedReader, index: number, names: Set<string>): Promise<GgufTensorInfo> {
  const name = await r.string(`the name of tensor ${index}`);
  if (Buffer.byteLength(name) > maxTensorName) {
    throw new GgufHeaderError("string", `tensor ${index}'s name is longer than ${maxTensorName} bytes`);
  }
  if (names.has(name)) throw new GgufHeaderError("duplicate", `tensor ${name} appears twice`);
  names.add(name);
  const dimCount = await r.u32(`the dimension count of ${name}`);
  if (dimCount < 1 || dimCount > maxDims) {
    throw new GgufHeaderError("dimensions", `tensor ${name} has ${dimCount} dimensions (1 to ${maxDims} allowed)`);
  }
  const dimensions: number[] = [];
  let elements = 1n;
  for (let d = 0; d < dimCount; d++) {
    const dim = await r.u64(`a dimension of ${name}`);
    if (dim === 0n) throw new GgufHeaderError("dimensions", `tensor ${name} has a dimension of size 0`);
    elements *= dim;
    if (elements > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new GgufHeaderError("dimensions", `tensor ${name} has more elements than any file can hold`);
    }
    dimensions.push(Number(dim));
  }
  const ggmlType = await r.u32(`the type of ${name}`);
  const traits = ggmlTypeTraits[ggmlType];
  if (traits === undefined) throw new GgufHeaderError("type", `tensor ${name} has an unknown data type ${ggmlType}`);
  if (dimensions[0]! % traits.blockElements !== 0) {
    throw new GgufHeaderError("dimensions", `tensor ${name}'s rows (${dimensions[0]}) are not a multiple of its block size ${traits.blockElements}`);
  }
  const offset = await r.u64(`the data offset of ${name}`);
  if (offset > BigInt(r.fileSize)) throw new GgufHeaderError("offset", `tensor ${name}'s data starts at ${offset}, past the end of the file`);
  const byteSize = (Number(elements) / traits.blockElements) * traits.blockBytes;
  return { name, dimensions, ggmlType, offset: Number(offset), byteSize };
}

/** Every tensor lies inside the data section, aligned; offsets are in order without overlap (as gguf.cpp requires). */
function checkTensorLayout(tensors: readonly GgufTensorInfo[], alignment: number, dataBytes: number): void {
  let expected = 0;
  for (const tensor of tensors) {
    if (tensor.offset !== expected) {
      throw new GgufHeaderError("offset", `tensor ${tensor.name}'s data offset is ${tensor.offset}, expected ${expected}`);
    }
    if (tensor.offset + tensor.byteSize > dataBytes) {
      throw new GgufHeaderError(
        "offset",
        `tensor ${tensor.name}'s data ends at byte ${tensor.offset + tensor.byteSize} of the data section, past the end of the file (${Math.max(0, dataBytes)} bytes)`,
      );
    }
    expected += Math.ceil(tensor.byteSize / alignment) * alignment;
  }
}
