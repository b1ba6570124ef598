// What llama.cpp would GGML_ASSERT (abort the process) on, or loop over for minutes, checked on our
// own parse of the header (server/model/ggufHeader.ts) before llama.cpp or node-llama-cpp sees the
// file: a missing architecture, an empty vocabulary, zero heads, an absurd layer count, a zero
// context or embedding length, vocabulary arrays of different lengths.
import type { GgufArray, GgufHeader, GgufValue } from "./ggufHeader";

export type GgufSanityReason =
  | "architecture"
  | "vocabulary"
  | "headCount"
  | "blockCount"
  | "contextLength"
  | "embeddingLength"
  | "tensors";

export class GgufSanityError extends Error {
  constructor(
    readonly reason: GgufSanityReason,
    message: string,
  ) {
    super(message);
    this.name = "GgufSanityError";
  }
}

/** Far above any real model (the largest have a few hundred layers); the memory check loops per layer. */
export const maxBlockCount = 10_000;

/** Architectures without attention heads (llama.cpp's recurrent models write head_count = 0). */
const headlessArchitectures: ReadonlySet<string> = new Set(["mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"]);

function isArray(value: GgufValue | undefined): value is GgufArray {
  return typeof value === "object" && value !== null && "length" in value;
}

function positiveInteger(value: GgufValue | undefined): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined;
}

function describe(value: GgufValue | undefined): string {
  if (value === undefined) return "missing";
  if (isArray(value)) return `an array of ${value.length}`;
  return String(value);
}

function requirePositive(header: GgufHeader, key: string, reason: GgufSanityReason, max = Number.MAX_SAFE_INTEGER): number {
  const value = header.metadata.get(key);
  const n = positiveInteger(value);
  if (n === undefined || n > max) {
    throw new GgufSanityError(reason, `${key} is ${describe(value)} (it must be a whole number from 1 to ${max.toLocaleString("en-US")})`);
  }
  return n;
}

/** Throws GgufSanityError when llama.cpp would abort or stall on this header. */
export function checkGgufSanity(header: GgufHeader): { architecture: string; vocabularySize: number; blockCount: number } {
  const archValue = header.metadata.get("general.architecture");
  if (typeof archValue !== "string" || archValue === "" || archValue.length > 64) {
    throw new GgufSanityError("architecture", `general.architecture is ${describe(archValue)} (a model names its architecture)`);
  }
  const arch = archValue;
  if (header.tensors.length === 0) throw new GgufSanityError("tensors", "it has no tensors (no weights)");
  const tokens = header.metadata.get("tokenizer.ggml.tokens");
  if (!isArray(tokens) || tokens.length === 0) {
    throw new GgufSanityError("vocabulary", `its vocabulary (tokenizer.ggml.tokens) is ${isArray(tokens) ? "empty" : describe(tokens)}`);
  }
  for (const key of ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"]) {
    const value = header.metadata.get(key);
    if (value !== undefined && (!isArray(value) || value.length !== tokens.length)) {
      throw new GgufSanityError("vocabulary", `${key} has ${describe(value)} entries but the vocabulary has ${tokens.length} tokens`);
    }
  }
  const blockCount = requirePositive(header, `${arch}.block_count`, "blockCount", maxBlockCount);
  requirePositive(header, `${arch}.context_length`, "contextLength");
  requirePositive(header, `${arch}.embedding_length`, "embeddingLength");
  if (!headlessArchitectures.has(arch)) checkHeads(header, arch);
  return { architecture: arch, vocabularySize: tokens.length, blockCount };
}

function checkHeads(header: GgufHeader, arch: string): void {
  const key = `${arch}.attention.head_count`;
  const heads = header.metadata.get(key);
  if (heads === undefined) return; // llama.cpp then reports the missing key itself (a C++ exception, not an abort)
  if (isArray(heads) && heads.values === undefined) return; // too long to keep: llama.cpp checks it per layer
  const values = isArray(heads) ? (heads.values ?? []) : [heads];
  if (values.length === 0 || values.every((v) => v === 0) || values.some((v) => typeof v !== "number" || !(v >= 0))) {
    throw new GgufSanityError("headCount", `${key} is ${isArray(heads) ? `[${values.slice(0, 4).join(", ")}…]` : describe(heads)} (attention needs at least one head)`);
  }
  const kvKey = `${arch}.attention.head_count_kv`;
  const kv = header.metadata.get(kvKey);
  if (typeof kv === "number" && !(kv > 0)) {
    throw new GgufSanityError("headCount", `${kvKey} is ${kv} (attention needs at least one key/value head)`);
  }
}
