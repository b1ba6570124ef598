// Checks a model file before llama.cpp sees it, so every way a user can get it wrong ends in a
// message that says what is wrong and what to do — never in a native crash, a hang or a stuck load.
// Only regular files are opened (a FIFO would block forever); the header is parsed by our own
// bounded reader (server/model/ggufHeader.ts) and checked for what llama.cpp would abort on
// (server/model/ggufSanity.ts) before node-llama-cpp or llama.cpp reads a byte of it.
import { constants } from "node:fs";
import { open, stat } from "node:fs/promises";
import path from "node:path";
import type { LlamaCpp } from "../llamaRuntime";
import { GgufHeaderError, readGgufHeader, type GgufHeader } from "./ggufHeader";
import { checkGgufSanity, GgufSanityError } from "./ggufSanity";

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
  header: GgufHeader;
  /** Milliseconds the whole check took. */
  checkMs: number;
}

export function modelDisplayName(modelPath: string): string {
  return path.basename(modelPath).replace(/\.gguf$/i, "");
}

const fix = "Set streamsink.model.path to a .gguf model file (StreamSink: Select Model).";

function kindOf(info: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (info.isDirectory()) return "a folder";
  if (info.isFIFO()) return "a named pipe (FIFO)";
  if (info.isSocket()) return "a socket";
  if (info.isCharacterDevice() || info.isBlockDevice()) return "a device";
  return "not a regular file";
}

function statError(modelPath: string, error: unknown): ModelFileError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new ModelFileError(`Model file not found: ${modelPath}. ${fix}`);
  if (code === "EACCES") return new ModelFileError(`Model file is not readable (permission denied): ${modelPath}.`);
  if (code === "ELOOP") return new ModelFileError(`Model path ${modelPath} is a symbolic link that loops. ${fix}`);
  return new ModelFileError(`Cannot read model file ${modelPath}: ${(error as Error).message}. ${fix}`);
}

/** The message for a header our reader or sanity check refused. */
function headerMessage(modelPath: string, error: GgufHeaderError | GgufSanityError): string {
  if (error instanceof GgufHeaderError && error.reason === "magic") {
    return (
      `${modelPath} is not a GGUF model file (it does not start with "GGUF"). ` +
      `StreamSink runs llama.cpp models in GGUF format; convert the model or pick a .gguf file.`
    );
  }
  if (error instanceof GgufHeaderError && error.reason === "truncated") {
    return `${modelPath} is truncated: ${error.message}. The download was probably interrupted; download it again.`;
  }
  if (error instanceof GgufHeaderError && error.reason === "offset" && /past the end of the file/.test(error.message)) {
    return `${modelPath} is truncated: ${error.message}. The download was probably interrupted; download it again.`;
  }
  const what = error instanceof GgufSanityError ? "describes a model llama.cpp cannot run" : "is a damaged GGUF file";
  return `${modelPath} ${what}: ${error.message}. StreamSink did not load it (llama.cpp could crash on it); download it again or pick another model.`;
}

/**
 * Throws ModelFileError with an actionable message when `modelPath` cannot be a usable GGUF.
 * `_llamaCpp` is no longer used (the header is read by our own reader); kept for callers.
 */
export async function checkModelFile(_llamaCpp: LlamaCpp | undefined, modelPath: string): Promise<ModelFileFacts> {
  const started = performance.now();
  if (!path.isAbsolute(modelPath)) {
    throw new ModelFileError(`Model path "${modelPath}" is not absolute. ${fix}`);
  }
  let info;
  try {
    info = await stat(modelPath);
  } catch (error) {
    throw statError(modelPath, error);
  }
  if (!info.isFile()) throw new ModelFileError(`Model path ${modelPath} is ${kindOf(info)}, not a model file. ${fix}`);
  // O_NONBLOCK: if the path was swapped for a FIFO since stat(), open() must not wait for a writer.
  let handle;
  try {
    handle = await open(modelPath, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw statError(modelPath, error);
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw new ModelFileError(`Model path ${modelPath} is ${kindOf(opened)}, not a model file. ${fix}`);
    const header = await readGgufHeader(handle, opened.size);
    const { architecture } = checkGgufSanity(header);
    return {
      path: modelPath,
      name: modelDisplayName(modelPath),
      sizeBytes: opened.size,
      architecture,
      header,
      checkMs: performance.now() - started,
    };
  } catch (error) {
    if (error instanceof GgufHeaderError || error instanceof GgufSanityError) {
      throw new ModelFileError(headerMessage(modelPath, error));
    }
    if (error instanceof ModelFileError) throw error;
    throw new ModelFileError(`Cannot read model file ${modelPath}: ${(error as Error).message}. ${fix}`);
  } finally {
    await handle.close();
  }
}
