// The scripted editing session of bench:complete, decided up front from the seed: which files,
// which blocks, which keystrokes and pauses (independent of timing and of the model).
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { prng } from "../../test/support/random";

export interface SourceFile {
  path: string;
  uri: string;
  languageId: string;
  text: string;
}

export type Action =
  | { kind: "jump"; file: number; offset: number; deleteLength: number; delayMs: number }
  | { kind: "type"; text: string; delayMs: number }
  | { kind: "backspace"; delayMs: number };

/** Offsets of lines that open a block (the next non-blank line is indented deeper). */
function blockStarts(text: string): { bodyOffset: number; bodyLines: string[] }[] {
  const lines = text.split("\n");
  const starts: number[] = [];
  let at = 0;
  for (const line of lines) {
    starts.push(at);
    at += line.length + 1;
  }
  const indent = (line: string) => line.length - line.trimStart().length;
  const result: { bodyOffset: number; bodyLines: string[] }[] = [];
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = lines[i]!;
    const body = lines[i + 1]!;
    if (head.trim() === "" || body.trim() === "" || indent(body) <= indent(head)) continue;
    if (!/[:{(]\s*$/.test(head)) continue;
    const bodyLines: string[] = [];
    for (let j = i + 1; j < lines.length && bodyLines.length < 3; j++) {
      if (lines[j]!.trim() === "" || indent(lines[j]!) < indent(body)) break;
      bodyLines.push(lines[j]!);
    }
    result.push({ bodyOffset: starts[i + 1]! + indent(body), bodyLines });
  }
  return result;
}

/** The whole session, decided up front from the seed (independent of timing and of the model). */
export function script(files: SourceFile[], edits: number, seed: number): Action[] {
  const rand = prng(seed);
  const blocks = files.map((file) => blockStarts(file.text));
  const actions: Action[] = [];
  let count = 0;
  let file = 0;
  const letters = "abcdefghijklmnopqrstuvwxyz";
  while (count < edits) {
    if (actions.length > 0 && rand() < 0.3) file = Math.floor(rand() * files.length);
    const candidates = blocks[file]!;
    if (candidates.length === 0) {
      file = (file + 1) % files.length;
      continue;
    }
    const block = candidates[Math.floor(rand() * candidates.length)]!;
    const lineCount = 1 + Math.floor(rand() * block.bodyLines.length);
    const segment = block.bodyLines.slice(0, lineCount).join("\n").trimStart();
    actions.push({ kind: "jump", file, offset: block.bodyOffset, deleteLength: segment.length, delayMs: 800 + rand() * 700 });
    let i = 0;
    while (i < segment.length && count < edits) {
      const ch = segment[i]!;
      let delayMs = 70 + -Math.log(1 - rand()) * 90;
      const previous = segment[i - 1];
      if (previous !== undefined && /[\s.,():=]/.test(previous) && rand() < 0.15) delayMs += 300 + rand() * 600;
      if (ch !== "\n" && rand() < 0.04) {
        actions.push({ kind: "type", text: letters[Math.floor(rand() * letters.length)]!, delayMs });
        actions.push({ kind: "backspace", delayMs: 150 + rand() * 200 });
        count += 2;
        delayMs = 80 + rand() * 100;
      }
      if (ch === "\n") {
        // Enter with auto-indent: the newline and the next line's indentation in one edit.
        const indentation = /^[ \t]*/.exec(segment.slice(i + 1))![0];
        actions.push({ kind: "type", text: "\n" + indentation, delayMs: delayMs + 200 + rand() * 400 });
        i += 1 + indentation.length;
      } else {
        actions.push({ kind: "type", text: ch, delayMs });
        i += 1;
      }
      count += 1;
    }
  }
  return actions;
}

/** The files to edit, read from disk (a missing one is skipped, with a note). */
export function loadFiles(paths: string[]): SourceFile[] {
  const files: SourceFile[] = [];
  for (const file of paths) {
    if (!existsSync(file)) {
      process.stderr.write(`skipping ${file} (not on this machine)\n`);
      continue;
    }
    const text = readFileSync(file, "utf8").replace(/\r\n/g, "\n");
    const languageId = file.endsWith(".py") ? "python" : file.endsWith(".ts") ? "typescript" : "plaintext";
    files.push({ path: file, uri: `file://${path.resolve(file)}`, languageId, text });
  }
  if (files.length === 0) throw new Error("No source files to edit: pass --files a.py,b.ts");
  return files;
}
