// A marker file written before llama.cpp loads a model and removed after the load returns (either
// way). If llama.cpp kills the process natively while loading, the marker survives; the restarted
// server then refuses that same file once, with a message naming it, instead of crashing again in a
// restart loop. One marker per model path, so servers loading different files never clash; a marker
// left by a process that is still alive (another window's server loading the same file) is ignored.
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export interface LoadMarker {
  modelPath: string;
  sizeBytes: number;
  pid: number;
  startedAt: string;
  /** What was running when the marker was written (e.g. "loading the model"). */
  phase: string;
}

/** Where markers live without a storage folder from the client: per user, in the temp folder. */
export function defaultMarkerDirectory(): string {
  return path.join(os.tmpdir(), `streamsink-${os.userInfo().username}`, "load-markers");
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Markers of loads in progress in this process: removed on any exit that runs JavaScript. */
const active = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A clean exit (shutdown, SIGTERM handled by the LSP library) mid-load is not a crash.
  process.on("exit", () => {
    for (const file of active) rmSync(file, { force: true });
  });
}

export class LoadMarkers {
  constructor(private directory: string = defaultMarkerDirectory()) {}

  setDirectory(directory: string): void {
    this.directory = directory;
  }

  private fileFor(modelPath: string): string {
    const id = createHash("sha256").update(modelPath).digest("hex").slice(0, 16);
    return path.join(this.directory, `loading-${id}.json`);
  }

  /** Writes the marker; a marker that cannot be written only costs the crash protection. */
  async write(modelPath: string, sizeBytes: number, phase: string, pid = process.pid): Promise<boolean> {
    const marker: LoadMarker = { modelPath, sizeBytes, pid, startedAt: new Date().toISOString(), phase };
    try {
      await mkdir(this.directory, { recursive: true });
      const file = this.fileFor(modelPath);
      await writeFile(file, JSON.stringify(marker));
      if (pid === process.pid) {
        installExitHook();
        active.add(file);
      }
      return true;
    } catch {
      return false;
    }
  }

  async clear(modelPath: string): Promise<void> {
    const file = this.fileFor(modelPath);
    active.delete(file);
    await rm(file, { force: true }).catch(() => undefined);
  }

  /**
   * The marker a crashed load of this same file (same size) left, consumed: it is removed, so the
   * file is refused once and the next attempt loads it again.
   */
  async takeCrashed(modelPath: string, sizeBytes: number): Promise<LoadMarker | undefined> {
    const file = this.fileFor(modelPath);
    let marker: Partial<LoadMarker>;
    try {
      const text = await readFile(file, { encoding: "utf8", flag: "r" });
      if (text.length > 64 * 1024) throw new Error("too large");
      marker = JSON.parse(text) as Partial<LoadMarker>;
    } catch {
      await this.clear(modelPath);
      return undefined;
    }
    if (typeof marker.pid === "number" && isAlive(marker.pid)) return undefined;
    await this.clear(modelPath);
    if (marker.modelPath !== modelPath || marker.sizeBytes !== sizeBytes) return undefined;
    return marker as LoadMarker;
  }
}
