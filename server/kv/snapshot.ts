// Resumable KV snapshots: a sequence's KV state (sinks + window, a fixed size) saved to disk after
// an answer and loaded back after a restart or a window reload instead of re-evaluating.
//
// On disk, per snapshot name (e.g. "chat") in the storage folder the client passes:
//   <name>.json           the sidecar, written last: format version, the model's identity (path,
//                          size, sha256 of the GGUF), the engine settings, the token list, the
//                          state file's name, size and sha256, and the owner's data (e.g. chat id).
//   <name>-<id>.kvstate   llama.cpp's sequence state (node-llama-cpp saveStateToFile).
// Writes are atomic: each file is written under a temporary name and renamed; the sidecar's rename
// is the commit point, and the previous state file is deleted only after it. A crash at any moment
// leaves the old snapshot or the new one, never a mix.
//
// Loading a state file made by another model can crash llama.cpp (node-llama-cpp's `acceptRisk`),
// so a snapshot is loaded only when every check passes: same format version, same model hash, same
// engine settings, a state file with the recorded size and hash. Otherwise it is ignored with a
// note that says why, and never loaded.
//
// Only node-llama-cpp TYPES are imported here (server/ rule); no LSP, no vscode.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { kvCacheBytes, modelShapeFromMetadata } from "../model/memoryBudget";
import { ggmlTypeTraits } from "../model/ggmlTypes";
import { hybridArchitectures, recurrentArchitectures } from "./shiftCapability";
import { errorMessage } from "../../common/errors";

export const snapshotFormatVersion = 1;

/** Engine settings a KV state depends on: a snapshot made with other values is not loaded. */
export interface SnapshotEngineSettings {
  /** The context's real size (`context.contextSize`). */
  contextSize: number;
  sinks: number;
  shiftSize: number;
}

export interface ModelIdentity {
  path: string;
  sizeBytes: number;
  sha256: string;
}

export interface SnapshotIdentity {
  model: ModelIdentity;
  engine: SnapshotEngineSettings;
}

export interface SnapshotMeta {
  formatVersion: number;
  model: ModelIdentity;
  engine: SnapshotEngineSettings;
  /** The sequence's tokens (= contextTokens at save time), sinks first. */
  tokens: number[];
  stateFile: string;
  stateBytes: number;
  stateSha256: string;
  savedAt: string;
  /** The owner's own data (e.g. the chat id and which messages the window holds). */
  owner?: Record<string, unknown>;
}

export type RestoreResult =
  | { restored: true; meta: SnapshotMeta; tokens: Token[] }
  | { restored: false; note: string };

async function sha256OfFile(filePath: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(filePath, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** sha256 of model files, cached by path + size + mtime (hashing a multi-GB GGUF takes seconds). */
const modelHashCache = new Map<string, Promise<string>>();

/** The model file's identity for snapshot checks; its hash is computed once per path/size/mtime. */
export async function modelIdentity(modelPath: string): Promise<ModelIdentity> {
  const info = await stat(modelPath);
  const key = JSON.stringify([path.resolve(modelPath), info.size, info.mtimeMs]);
  let hashing = modelHashCache.get(key);
  if (hashing === undefined) {
    hashing = sha256OfFile(modelPath);
    modelHashCache.set(key, hashing);
    hashing.catch(() => modelHashCache.delete(key));
  }
  return { path: path.resolve(modelPath), sizeBytes: info.size, sha256: await hashing };
}

function isSnapshotMeta(value: unknown): value is SnapshotMeta {
  if (typeof value !== "object" || value === null) return false;
  const meta = value as Partial<SnapshotMeta>;
  return (
    typeof meta.formatVersion === "number" &&
    typeof meta.model === "object" &&
    meta.model !== null &&
    typeof meta.model.sha256 === "string" &&
    typeof meta.model.sizeBytes === "number" &&
    typeof meta.engine === "object" &&
    meta.engine !== null &&
    Array.isArray(meta.tokens) &&
    meta.tokens.every((token) => Number.isInteger(token) && token >= 0) &&
    typeof meta.stateFile === "string" &&
    typeof meta.stateBytes === "number" &&
    typeof meta.stateSha256 === "string"
  );
}

/** Why `meta` must not be loaded for `identity` and this context, or undefined when it may. */
export function snapshotMismatch(meta: SnapshotMeta, identity: SnapshotIdentity): string | undefined {
  if (meta.formatVersion !== snapshotFormatVersion) {
    return `it has format version ${meta.formatVersion}, this version reads ${snapshotFormatVersion}`;
  }
  if (meta.model.sha256 !== identity.model.sha256 || meta.model.sizeBytes !== identity.model.sizeBytes) {
    return `it was made with another model (${path.basename(meta.model.path ?? "?")}, sha256 ${meta.model.sha256.slice(0, 12)}…)`;
  }
  const keys: (keyof SnapshotEngineSettings)[] = ["contextSize", "sinks", "shiftSize"];
  const changed = keys.filter((key) => meta.engine[key] !== identity.engine[key]);
  if (changed.length > 0) {
    return `it was made with other engine settings (${changed
      .map((key) => `${key} ${meta.engine[key]} → ${identity.engine[key]}`)
      .join(", ")})`;
  }
  if (meta.tokens.length > identity.engine.contextSize - 1) {
    return `it holds ${meta.tokens.length} tokens, more than a ${identity.engine.contextSize}-token context can`;
  }
  return undefined;
}

/**
 * The fewest bytes a sequence state file of `tokenCount` tokens can have for this sequence's model
 * and cache types: llama.cpp's header (magic, version, token count, the tokens) plus the K and V rows
 * of every cell. A shorter file would make llama.cpp read past its end (GGML_ASSERT(nread <=
 * state_size) aborts the process), whatever its sidecar says. Undefined where the layout is not plain
 * attention (sliding windows, recurrent or hybrid models keep other state): no lower bound then.
 */
export function minimumStateBytes(
  sequence: Pick<LlamaContextSequence, "model" | "context">,
  tokenCount: number,
  cells = tokenCount,
): number | undefined {
  const metadata = sequence.model.fileInfo.metadata as unknown as Record<string, unknown>;
  const architecture = (metadata.general as { architecture?: unknown } | undefined)?.architecture;
  if (typeof architecture !== "string" || recurrentArchitectures.has(architecture) || hybridArchitectures.has(architecture)) return undefined;
  const arch = metadata[architecture] as { attention?: { sliding_window?: unknown } } | undefined;
  if (arch?.attention?.sliding_window !== undefined) return undefined;
  const typeName = (type: number): string | undefined => ggmlTypeTraits[type]?.name.toLowerCase();
  const keyType = typeName(sequence.context.kvCacheKeyType as unknown as number);
  const valueType = typeName(sequence.context.kvCacheValueType as unknown as number);
  if (keyType === undefined || valueType === undefined) return undefined;
  try {
    const shape = modelShapeFromMetadata(metadata);
    // File header (magic, version, token count) + tokens; then the KV section: 16 bytes of counts,
    // 12 bytes of metadata per cell, a 12-byte row header per layer for K and for V, and the rows.
    return 12 + 4 * tokenCount + 16 + 12 * cells + 24 * shape.layers + kvCacheBytes(shape, cells, keyType, valueType);
  } catch {
    return undefined; // a cache type the arithmetic does not know
  }
}

/**
 * What a llama.cpp sequence state file says of itself before llama.cpp reads it: the token count in
 * its header (magic "ggsq", version, count, the tokens) and, for plain attention caches, the KV
 * section's stream count and the first stream's cell count. llama.cpp allocates by these counts
 * before it checks them against the file: a forged cell count of 2^31 makes it allocate until the
 * process is killed, so they are read and bounded here first.
 */
async function stateFileHeader(statePath: string): Promise<{ tokens: number; streams?: number; cells?: number } | undefined> {
  const handle = await open(statePath, "r");
  try {
    const header = Buffer.alloc(12);
    const { bytesRead } = await handle.read(header, 0, 12, 0);
    if (bytesRead < 12 || header.readUInt32LE(0) !== 0x6767_7371) return undefined;
    const tokens = header.readUInt32LE(8);
    const counts = Buffer.alloc(8);
    const { bytesRead: countBytes } = await handle.read(counts, 0, 8, 12 + 4 * tokens);
    if (countBytes < 8) return { tokens };
    return { tokens, streams: counts.readUInt32LE(0), cells: counts.readUInt32LE(4) };
  } finally {
    await handle.close();
  }
}

/** Why the counts of a state file cannot belong to `sequence`'s context (undefined when they can). */
function stateCountsProblem(
  sequence: Pick<LlamaContextSequence, "context">,
  header: { tokens: number; streams?: number; cells?: number },
): string | undefined {
  const contextSize = sequence.context.contextSize;
  if (header.streams === undefined || header.cells === undefined) return "its state file ends inside its header (it is truncated)";
  // One stream per sequence at most (llama.cpp's kv_unified off); 0 is never written.
  if (header.streams < 1 || header.streams > Math.max(1, sequence.context.totalSequences)) {
    return `its state file claims ${header.streams} KV streams`;
  }
  if (header.cells > contextSize) return `its state file claims ${header.cells} KV cells, more than the ${contextSize} of the context`;
  return undefined;
}

export class SnapshotStore {
  constructor(readonly directory: string) {}

  private sidecar(name: string): string {
    return path.join(this.directory, `${name}.json`);
  }

  /** Reads the sidecar of `name` (undefined when there is none or it is unreadable). */
  async read(name: string): Promise<SnapshotMeta | undefined> {
    let text: string;
    try {
      text = await readFile(this.sidecar(name), "utf8");
    } catch {
      return undefined;
    }
    try {
      const meta: unknown = JSON.parse(text);
      return isSnapshotMeta(meta) ? meta : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Saves `sequence`'s KV state under `name`, atomically. Call it between evaluations (the sequence
   * must not be generating); it waits for node-llama-cpp's own evaluation lock.
   */
  async save(
    name: string,
    sequence: LlamaContextSequence,
    identity: SnapshotIdentity,
    owner?: Record<string, unknown>,
  ): Promise<SnapshotMeta> {
    assertName(name);
    await mkdir(this.directory, { recursive: true });
    const previous = await this.read(name);
    const id = `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    const stateFile = `${name}-${id}.kvstate`;
    const statePath = path.join(this.directory, stateFile);
    const stateTemp = `${statePath}.tmp`;
    const tokens = [...sequence.contextTokens] as number[];
    try {
      const { fileSize } = await sequence.saveStateToFile(stateTemp);
      const stateSha256 = await sha256OfFile(stateTemp);
      await rename(stateTemp, statePath);
      const meta: SnapshotMeta = {
        formatVersion: snapshotFormatVersion,
        model: identity.model,
        engine: identity.engine,
        tokens,
        stateFile,
        stateBytes: fileSize,
        stateSha256,
        savedAt: new Date().toISOString(),
        ...(owner ? { owner } : {}),
      };
      const sidecarTemp = `${this.sidecar(name)}.${id}.tmp`;
      await writeFile(sidecarTemp, JSON.stringify(meta));
      await rename(sidecarTemp, this.sidecar(name)); // the commit point
      if (previous && previous.stateFile !== stateFile) await rm(path.join(this.directory, previous.stateFile), { force: true });
      await this.removeOrphans(name, stateFile);
      return meta;
    } catch (error) {
      await rm(stateTemp, { force: true });
      await rm(statePath, { force: true });
      throw error;
    }
  }

  /**
   * Loads the snapshot `name` into `sequence` (which must be empty) when it matches `identity`;
   * otherwise leaves the sequence alone and returns a note saying why. Nothing is evaluated: the
   * restored sequence holds exactly the snapshot's tokens, its token meter unchanged.
   */
  async restore(name: string, sequence: LlamaContextSequence, identity: SnapshotIdentity): Promise<RestoreResult> {
    assertName(name);
    const meta = await this.read(name);
    if (meta === undefined) return { restored: false, note: `No ${name} snapshot to restore.` };
    const ignored = (why: string): RestoreResult => ({
      restored: false,
      note: `Ignored the saved ${name} KV snapshot: ${why}. The conversation is rebuilt from its text instead.`,
    });
    const mismatch = snapshotMismatch(meta, identity);
    if (mismatch !== undefined) return ignored(mismatch);
    if (sequence.nextTokenIndex !== 0) return ignored("the sequence is not empty");
    const statePath = path.join(this.directory, path.basename(meta.stateFile));
    try {
      const info = await stat(statePath);
      if (!info.isFile()) return ignored("its state file is not a regular file");
      if (info.size !== meta.stateBytes) return ignored(`its state file has ${info.size} bytes, expected ${meta.stateBytes}`);
      // llama.cpp sizes its reads by the token count in the file itself: it must be the sidecar's.
      const header = await stateFileHeader(statePath);
      if (header?.tokens !== meta.tokens.length) {
        return ignored(`its state file says ${header?.tokens ?? "nothing about"} tokens, the sidecar ${meta.tokens.length}`);
      }
      // The KV section's counts are only known for plain attention caches (where there is a minimum size).
      const plain = minimumStateBytes(sequence, meta.tokens.length) !== undefined;
      const countsProblem = plain ? stateCountsProblem(sequence, header) : undefined;
      if (countsProblem !== undefined) return ignored(countsProblem);
      const minimum = minimumStateBytes(sequence, meta.tokens.length, Math.max(meta.tokens.length, header.cells ?? 0));
      if (minimum !== undefined && info.size < minimum) {
        return ignored(`its state file has ${info.size} bytes, fewer than the ${minimum} its ${meta.tokens.length} tokens need (it is truncated)`);
      }
      if ((await sha256OfFile(statePath)) !== meta.stateSha256) return ignored("its state file is damaged (hash mismatch)");
    } catch {
      return ignored("its state file is missing");
    }
    try {
      await sequence.loadStateFromFile(statePath, { acceptRisk: true });
    } catch (error) {
      await sequence.clearHistory();
      return ignored(`llama.cpp could not load it (${errorMessage(error)})`);
    }
    const loaded = sequence.contextTokens;
    if (loaded.length !== meta.tokens.length || loaded.some((token, i) => token !== meta.tokens[i])) {
      await sequence.clearHistory();
      return ignored("the loaded tokens differ from the recorded ones");
    }
    return { restored: true, meta, tokens: [...loaded] };
  }

  /** Deletes the snapshot `name` (New chat, another chat, a reset). */
  async remove(name: string): Promise<void> {
    assertName(name);
    const meta = await this.read(name);
    await rm(this.sidecar(name), { force: true });
    if (meta) await rm(path.join(this.directory, path.basename(meta.stateFile)), { force: true });
    await this.removeOrphans(name, undefined);
  }

  /** State files of `name` that no sidecar refers to (left by a crash mid-save). */
  private async removeOrphans(name: string, keep: string | undefined): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(this.directory);
    } catch {
      return;
    }
    const prefix = `${name}-`;
    for (const entry of entries) {
      if (!entry.startsWith(prefix) || entry === keep) continue;
      if (entry.endsWith(".kvstate") || entry.endsWith(".kvstate.tmp")) {
        await rm(path.join(this.directory, entry), { force: true });
      }
    }
    for (const entry of entries) {
      if (entry.startsWith(`${name}.json.`) && entry.endsWith(".tmp")) {
        await rm(path.join(this.directory, entry), { force: true });
      }
    }
  }
}

function assertName(name: string): void {
  if (!/^[a-z][a-z0-9_]{0,40}$/i.test(name)) throw new Error(`Invalid snapshot name "${name}".`);
}
