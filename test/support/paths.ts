// Paths shared by tests and benchmarks.
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const modelsDir = path.resolve(repoRoot, "..", "shared", "models");
export const models = {
  tinycoderQ8: path.join(modelsDir, "tinycoder-16m-q8_0.gguf"),
  tinycoderF16: path.join(modelsDir, "tinycoder-16m-f16.gguf"),
  stories: path.join(modelsDir, "stories260K.gguf"),
};
export const serverBundle = path.join(repoRoot, "dist", "server.js");
