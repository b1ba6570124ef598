// Where the chat history is kept: a folder of `<chat id>.json` files (the live messages of a chat)
// and `<chat id>.archive.jsonl` files (older messages, one JSON line each, append-only). No
// `vscode` import. The folder is the user's disk: a name may be a directory, a FIFO (reading one
// would block forever), a socket or a huge file. Every file is opened non-blocking and checked
// before it is read or written; anything but a regular file of bounded size is refused with an
// error that says what was found and what to do, and the chat goes on in memory.
import { constants } from "node:fs";
import { mkdir, open, readdir, rename, rm, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";

/** Largest chat file read (the live part of a chat is bounded; more than this is not ours). */
export const maxChatFileBytes = 64 * 1024 * 1024;
/** Largest archive read for scroll-back and search. */
export const maxArchiveBytes = 1024 * 1024 * 1024;

/** Where chats are kept: named text blobs, and append-only line files. */
export interface ChatStorage {
  list(): Promise<string[]>;
  read(name: string): Promise<string | undefined>;
  write(name: string, data: string): Promise<void>;
  /** Appends to a file (created if missing). */
  append(name: string, data: string): Promise<void>;
  /** The lines of a file in order, until `visit` returns false; nothing when it does not exist. */
  readLines(name: string, visit: (line: string) => boolean): Promise<void>;
  remove(name: string): Promise<void>;
  /** Moves an unreadable file aside (kept for the user, never deleted). */
  quarantine(name: string): Promise<void>;
}

/** A chat file that is not a regular file of bounded size: refused, left where it is. */
export class RefusedFileError extends Error {}

function describe(stat: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (stat.isDirectory()) return "a directory";
  if (stat.isFIFO()) return "a named pipe (FIFO)";
  if (stat.isSocket()) return "a socket";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "a device";
  return "not a regular file";
}

/** Opens `file` without blocking (a FIFO would) and checks that it is a regular file of at most `maxBytes`. */
async function openChecked(file: string, flags: number, maxBytes: number): Promise<FileHandle> {
  const handle = await open(file, flags | constants.O_NONBLOCK, 0o644);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new RefusedFileError(`${file} is ${describe(stat)}, not a chat file; StreamSink leaves it alone. Move it away to let the chat be saved there.`);
    }
    if (stat.size > maxBytes) {
      throw new RefusedFileError(
        `${file} is ${(stat.size / 1048576).toFixed(1)} MB, more than the ${(maxBytes / 1048576).toFixed(0)} MB a chat file may have; StreamSink does not read it. Move it away if it is not a chat.`,
      );
    }
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

function refusedOpen(file: string, error: unknown): never {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EISDIR") throw new RefusedFileError(`${file} is a directory, not a chat file. Move it away to let the chat be saved there.`);
  if (code === "ENXIO") throw new RefusedFileError(`${file} is a named pipe (FIFO) with nothing reading it, not a chat file. Move it away.`);
  throw error;
}

/** A folder of chat files; whole-file writes are atomic (temporary file + rename). */
export class FolderStorage implements ChatStorage {
  constructor(readonly folder: string) {}

  async list(): Promise<string[]> {
    try {
      return (await readdir(this.folder)).filter((name) => name.endsWith(".json"));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
  }

  async read(name: string): Promise<string | undefined> {
    const file = path.join(this.folder, name);
    let handle: FileHandle;
    try {
      handle = await openChecked(file, constants.O_RDONLY, maxChatFileBytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      refusedOpen(file, error);
    }
    try {
      return await handle.readFile("utf8");
    } finally {
      await handle.close();
    }
  }

  async write(name: string, data: string): Promise<void> {
    await mkdir(this.folder, { recursive: true });
    const target = path.join(this.folder, name);
    const temporary = `${target}.${process.pid}.tmp`;
    const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NONBLOCK, 0o644).catch((error) =>
      refusedOpen(temporary, error),
    );
    try {
      await handle.writeFile(data, "utf8");
    } finally {
      await handle.close();
    }
    try {
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      refusedOpen(target, error);
    }
  }

  async append(name: string, data: string): Promise<void> {
    await mkdir(this.folder, { recursive: true });
    const file = path.join(this.folder, name);
    let handle: FileHandle;
    try {
      handle = await openChecked(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, maxArchiveBytes);
    } catch (error) {
      refusedOpen(file, error);
    }
    try {
      await handle.appendFile(data, "utf8");
    } finally {
      await handle.close();
    }
  }

  async readLines(name: string, visit: (line: string) => boolean): Promise<void> {
    const file = path.join(this.folder, name);
    let handle: FileHandle;
    try {
      handle = await openChecked(file, constants.O_RDONLY, maxArchiveBytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      refusedOpen(file, error);
    }
    // The stream owns the handle from here: it closes it when it ends or is destroyed.
    const stream = handle.createReadStream({ encoding: "utf8" });
    const closed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    try {
      for await (const line of lines) if (line !== "" && !visit(line)) break;
    } finally {
      lines.close();
      stream.destroy();
      await closed;
    }
  }

  async remove(name: string): Promise<void> {
    await rm(path.join(this.folder, name), { force: true });
  }

  async quarantine(name: string): Promise<void> {
    await rename(path.join(this.folder, name), path.join(this.folder, `${name}.unreadable-${Date.now()}`));
  }
}
