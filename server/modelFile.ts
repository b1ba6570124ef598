// Checks a model file before llama.cpp sees it, so every way a user can get it wrong ends in a
// message that says what is wrong and what to do — never in a native crash.
import { open, stat } from "node:fs/promises";
import path from "node:path";
import type { LlamaCpp } from "./llamaRuntime";

export class ModelFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelFileError";
  }
}

export interface ModelFileFacts {
  path: string;
  name: string;
  sizeBytes: number;
  architecture?: string;
}

const ggufMagic = Buffer.from("GGUF", "ascii");

export function modelDisplayName(modelPath: string): string {
  return path.basename(modelPath).replace(/\.gguf$/i, "");
}

/** Throws ModelFileError with an actionable message when `modelPath` cannot be a usable GGUF. */
export async function checkModelFile(llamaCpp: LlamaCpp, modelPath: string): Promise<ModelFileFacts> {
  const fix = "Set streamsink.model.path to a .gguf model file (StreamSink: Select Model).";
  if (!path.isAbsolute(modelPath)) {
    throw new ModelFileError(`Model path "${modelPath}" is not absolute. ${fix}`);
  }
  let size: number;
  try {
    const info = await stat(modelPath);
    if (info.isDirectory()) throw new ModelFileError(`Model path ${modelPath} is a folder, not a file. ${fix}`);
    size = info.size;
  } catch (error) {
    if (error instanceof ModelFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new ModelFileError(`Model file not found: ${modelPath}. ${fix}`);
    if (code === "EACCES") throw new ModelFileError(`Model file is not readable (permission denied): ${modelPath}.`);
    throw new ModelFileError(`Cannot read model file ${modelPath}: ${(error as Error).message}`);
  }
  const header = Buffer.alloc(4);
  const handle = await open(modelPath, "r");
  try {
    await handle.read(header, 0, 4, 0);
  } finally {
    await handle.close();
  }
  if (size < 4 || !header.equals(ggufMagic)) {
    throw new ModelFileError(
      `${modelPath} is not a GGUF model file (it does not start with "GGUF"). ` +
        `StreamSink runs llama.cpp models in GGUF format; convert the model or pick a .gguf file.`,
    );
  }
  let architecture: string | undefined;
  let expectedEnd = 0;
  try {
    const info = await llamaCpp.readGgufFileInfo(modelPath, { readTensorInfo: true, ignoreKeys: [] });
    architecture = info.metadata?.general?.architecture;
    for (const tensor of info.fullTensorInfo ?? info.tensorInfo ?? []) {
      if (tensor.filePart !== 1) continue;
      const end = Number(tensor.fileOffset) + tensorByteSize(tensor);
      if (end > expectedEnd) expectedEnd = end;
    }
  } catch (error) {
    throw new ModelFileError(
      `${modelPath} is a damaged GGUF file (its header cannot be read: ${(error as Error).message}). ` +
        `Download it again.`,
    );
  }
  if (expectedEnd > size) {
    throw new ModelFileError(
      `${modelPath} is truncated: its tensors need at least ${expectedEnd} bytes but the file has ${size}. ` +
        `The download was probably interrupted; download it again.`,
    );
  }
  return { path: modelPath, name: modelDisplayName(modelPath), sizeBytes: size, architecture };
}

// Bytes per block and elements per block of the common GGML types (ggml.c type_traits).
const blockBytes: Record<number, [bytes: number, elements: number]> = {
  0: [4, 1], // F32
  1: [2, 1], // F16
  2: [18, 32], // Q4_0
  3: [20, 32], // Q4_1
  6: [22, 32], // Q5_0
  7: [24, 32], // Q5_1
  8: [34, 32], // Q8_0
  10: [84, 256], // Q2_K
  11: [110, 256], // Q3_K
  12: [144, 256], // Q4_K
  13: [176, 256], // Q5_K
  14: [210, 256], // Q6_K
  30: [2, 1], // BF16
};

/** Data size of one tensor; 0 for types not in the table (the check then only covers offsets). */
function tensorByteSize(tensor: { dimensions: readonly (number | bigint)[]; ggmlType: number }): number {
  const traits = blockBytes[tensor.ggmlType];
  if (traits === undefined) return 0;
  const elements = tensor.dimensions.reduce<number>((product, dim) => product * Number(dim), 1);
  return Math.ceil(elements / traits[1]) * traits[0];
}
