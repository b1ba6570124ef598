// Helpers shared by the GPU bench entries (bench/gpu/*.ts). These run on the GPU machine from the
// esbuild bundle that bench/gpu/prepare.sh writes into .gpu/bench/ (node-llama-cpp stays external).
// Benchmarks may print: a table, then with --json one JSON object as the LAST stdout line.
import { readFile } from "node:fs/promises";
import type { GgufTensorInfo, Llama, LlamaModel, Token } from "node-llama-cpp";

export { flag, int, parseArgs, percentile, round, str, table } from "../cli";

export const MiB = 2 ** 20;

export function num(args: Map<string, string | true>, name: string, fallback: number): number {
  const v = args.get(name);
  if (v == null) return fallback;
  const n = Number(v);
  if (typeof v !== "string" || !Number.isFinite(n)) throw new Error(`--${name} must be a number.`);
  return n;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/** GPU Llama through node-llama-cpp's own detection; refuses to measure on the CPU by mistake. */
export async function gpuLlama(): Promise<Llama> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  // GPU_BENCH_CPU=1: a local smoke run of the bench code on the CPU (figures meaningless).
  const cpu = process.env.GPU_BENCH_CPU === "1";
  const llama = await getLlama({ gpu: cpu ? false : "auto", build: "never", logLevel: LlamaLogLevel.warn });
  if (llama.gpu === false && !cpu) throw new Error("No GPU backend was found (getLlama({gpu: 'auto'}) chose the CPU).");
  return llama;
}

export async function corpusTokens(model: LlamaModel, textPath: string): Promise<Token[]> {
  const text = await readFile(textPath, "utf8");
  const tokens = model.tokenize(text);
  if (tokens.length === 0) throw new Error(`${textPath} has no tokens.`);
  return tokens;
}

/** The first `count` tokens of the endless corpus: BOS, then the text repeated. */
export function streamTokens(model: LlamaModel, text: readonly Token[], count: number, offset = 0): Token[] {
  const bos = model.tokens.bos;
  const out: Token[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const g = offset + i;
    out[i] = bos != null ? (g === 0 ? bos : text[(g - 1) % text.length]!) : text[g % text.length]!;
  }
  return out;
}

// GGML type ids → bytes per element (the types these benches use; anything else is refused).
const bytesPerElement: Record<number, number> = { 0: 4, 1: 2, 30: 2, 8: 34 / 32 };

function tensorBytes(t: GgufTensorInfo): number {
  const bpe = bytesPerElement[t.ggmlType as unknown as number];
  if (bpe == null) throw new Error(`Tensor ${t.name}: GGML type ${String(t.ggmlType)} is not counted by this bench.`);
  return t.dimensions.reduce<number>((a, d) => a * Number(d), 1) * bpe;
}

export interface ModelShape {
  architecture: string;
  layers: number;
  embedding: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  params: number;
  /** Bytes a decode step must read: every weight matrix once (the output matrix, or the token
   * embedding when it is tied, included; the input embedding is one row). */
  weightBytesPerToken: number;
  /** f16 K+V bytes of one cached position over all layers. */
  kvBytesPerPosition: number;
  /** 2 x parameters touched per token (matrix multiply-adds), attention excluded. */
  flopsPerTokenNoAttention: number;
}

export function modelShape(model: LlamaModel): ModelShape {
  const meta = model.fileInfo.metadata as unknown as Record<string, Record<string, unknown>> & {
    general: { architecture: string };
  };
  const arch = meta.general.architecture;
  const a = meta[arch] as Record<string, unknown> & { attention: Record<string, unknown> };
  const tensors = model.fileInfo.fullTensorInfo ?? model.fileInfo.tensorInfo;
  if (tensors == null) throw new Error("The model's tensor info was not read.");
  const embedding = Number(a.embedding_length);
  const heads = Number(a.attention.head_count);
  const kvHeads = Number(a.attention.head_count_kv ?? heads);
  const headDim = Number(a.attention.key_length ?? embedding / heads);
  const layers = Number(a.block_count);
  const tied = !tensors.some((t) => t.name === "output.weight");
  let weightBytes = 0;
  let params = 0;
  let matrixParams = 0;
  let vocab = 0;
  for (const t of tensors) {
    const elements = t.dimensions.reduce<number>((x, d) => x * Number(d), 1);
    params += elements;
    if (t.name === "token_embd.weight") {
      vocab = Number(t.dimensions[1]);
      const row = tensorBytes(t) / vocab;
      weightBytes += tied ? tensorBytes(t) + row : row;
      if (tied) matrixParams += elements;
      continue;
    }
    weightBytes += tensorBytes(t);
    if (t.dimensions.length >= 2) matrixParams += elements;
  }
  return {
    architecture: arch,
    layers,
    embedding,
    heads,
    kvHeads,
    headDim,
    vocab,
    params,
    weightBytesPerToken: weightBytes,
    kvBytesPerPosition: layers * 2 * kvHeads * headDim * 2,
    flopsPerTokenNoAttention: 2 * matrixParams,
  };
}

export function printJson(result: unknown, json: boolean): void {
  if (json) console.log(JSON.stringify(result));
}
