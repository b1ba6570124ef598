// The ONE place that reaches into node-llama-cpp's internals: erasing cell 0 in place for
// `zeroSinkInPlace` (plain window attention with 0 sinks, the benchmark baseline). node-llama-cpp
// re-evaluates everything when cell 0 is erased through its public API, so this calls the native
// context and patches the sequence's private bookkeeping.
//
// Written against node-llama-cpp 3.22.x: the installed version is read once, at load, from its
// package.json. Any other version (or one that cannot be read) disables the in-place path with a
// clear reason; StreamingSequence then falls back to "reevaluate" for 0 sinks and reports why.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { errorMessage } from "../../common/errors";

/** The node-llama-cpp versions these internals were written and tested for. */
const supportedVersion = /^3\.22\.\d+$/;

export interface InternalsSupport {
  supported: boolean;
  /** The installed node-llama-cpp version, when it could be read. */
  version?: string;
  /** Why the in-place path is off (absent when supported). */
  reason?: string;
}

function installedVersion(): string | undefined {
  // node-llama-cpp does not export its package.json: find it above its resolved entry point.
  const base = typeof __filename === "string" ? __filename : path.join(process.cwd(), "index.js");
  let dir = path.dirname(createRequire(base).resolve("node-llama-cpp"));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (manifest.name === "node-llama-cpp" && typeof manifest.version === "string") return manifest.version;
    } catch {
      // no package.json here: keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function checkSupport(): InternalsSupport {
  let version: string | undefined;
  try {
    version = installedVersion();
  } catch (error) {
    const why = errorMessage(error);
    return { supported: false, reason: `zeroSinkInPlace is off: the node-llama-cpp version could not be read (${why}); 0 sinks re-evaluate the window.` };
  }
  if (version === undefined) {
    return { supported: false, reason: "zeroSinkInPlace is off: the node-llama-cpp version could not be read; 0 sinks re-evaluate the window." };
  }
  if (!supportedVersion.test(version)) {
    return {
      supported: false,
      version,
      reason: `zeroSinkInPlace is off: it pokes node-llama-cpp 3.22.x internals, but ${version} is installed; 0 sinks re-evaluate the window.`,
    };
  }
  return { supported: true, version };
}

/** Read once, at load. */
export const internalsSupport: InternalsSupport = checkSupport();

interface SequenceInternals {
  _context?: {
    _ctx?: {
      removeTokenCellsFromSequence?: (id: number, start: number, end: number) => boolean;
      shiftSequenceTokenCells?: (id: number, start: number, end: number, delta: number) => void;
    };
  };
  _sequenceId?: number;
  _contextTokens?: Token[];
  _nextTokenIndex?: number;
}

/** Erases cells [0, count) and shifts the rest down, in place (see zeroSinkInPlace). */
export function eraseHeadInPlace(sequence: LlamaContextSequence, count: number): void {
  if (!internalsSupport.supported) throw new Error(internalsSupport.reason);
  const s = sequence as unknown as SequenceInternals;
  const native = s._context?._ctx;
  if (
    typeof native?.removeTokenCellsFromSequence !== "function" ||
    typeof native.shiftSequenceTokenCells !== "function" ||
    typeof s._sequenceId !== "number" ||
    !Array.isArray(s._contextTokens) ||
    typeof s._nextTokenIndex !== "number"
  ) {
    throw new Error(
      "zeroSinkInPlace needs node-llama-cpp 3.22 internals (LlamaContextSequence._context._ctx, _contextTokens, _nextTokenIndex), which this version lacks.",
    );
  }
  const next = s._nextTokenIndex;
  if (!native.removeTokenCellsFromSequence(s._sequenceId, 0, count)) {
    throw new Error(`llama.cpp refused to remove cells [0, ${count}) in place.`);
  }
  if (count < next) native.shiftSequenceTokenCells(s._sequenceId, count, next, -count);
  s._contextTokens.splice(0, count);
  s._nextTokenIndex = next - count;
}
