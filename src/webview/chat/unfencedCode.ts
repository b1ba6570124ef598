// Base models (and some instruct models) answer with code that is not in a ``` fence. Markdown
// would make those lines a paragraph: leading indentation dropped (Python loses its meaning),
// `__init__` turned bold, `a * b * c` turned italic. This finds blocks of such code outside
// fences and fences them, so they render as code, verbatim, with Copy and Insert.
// Pure (no DOM): the renderer calls it on every streamed update of a message. The fences it adds
// say `text`: guessing the language (highlight.js's highlightAuto) costs ≈ 26 ms per render of a
// 3 KB block, at every animation frame while an answer streams, on the cores the model needs.

import { appendAll } from "../../../common/arrays";

const fenceOpen = /^ {0,3}(`{3,}|~{3,})/;
/** Markdown structure that is prose, not code: list items, quotes, table rows. */
const markdownBlock = /^\s*(?:[-*+]\s|\d{1,9}[.)]\s|>|\|)/;
const codeStart =
  /^\s*(?:def|class|return|import|from|if|elif|else|for|while|try|except|finally|with|raise|yield|function|const|let|var|public|private|protected|static|fn|func|package|struct|enum|impl|interface|type|export|print|async|await|switch|case|#include|#define|@\w+)\b/;
const codeEnd = /[:{}();[\],=]\s*$/;
const codeInside = /\s=\s|=>|\+=|==|!=|->|::|\w\(.*\)|\/\/|\/\*|;\s*$/;
/** Docstring quotes, comment openers and closers, decorators. */
const codeMarker = /^\s*(?:"""|'''|#!|\/\/|\/\*|\*\/|@\w)/;
/** A sentence that introduces code ("Here is the function:"): words, no code punctuation. */
const proseLead = /^[A-Z][\w'’-]*(?:[ ,][\w'’,-]+){2,}[:.!?]$/;

function isCodeLine(line: string): boolean {
  return codeStart.test(line) || codeEnd.test(line) || codeInside.test(line) || codeMarker.test(line);
}

const indented = (line: string) => /^(?: {2,}|\t)\S/.test(line);
const indentedBlock = (line: string) => /^(?: {4,}|\t)/.test(line);

/** Where a block of consecutive non-blank lines is unfenced code: the index its code starts at, else -1. */
function codeStartIn(lines: readonly string[]): number {
  let start = 0;
  while (start < lines.length && proseLead.test(lines[start]!.trim()) && !codeStart.test(lines[start]!)) start++;
  const code = lines.slice(start);
  if (code.length < 2) return -1;
  // A definition with an indented body ("def f(x):", "function f() {") is code whatever its
  // docstring or comments say (bullets in a docstring included).
  if (codeStart.test(code[0]!) && codeEnd.test(code[0]!) && indented(code[1]!)) return start;
  if (code.some((line) => markdownBlock.test(line))) return -1;
  // Already an indented code block (Markdown keeps it verbatim) when it follows a blank line.
  if (start === 0 && code.every(indentedBlock)) return -1;
  const codeLines = code.filter(isCodeLine).length;
  if (codeLines / code.length < 0.6) return -1;
  const hasIndentation = code.slice(1).some(indented);
  return hasIndentation || codeLines === code.length ? start : -1;
}

/** Fences the blocks of unfenced code in a Markdown message; everything else is left as it is. */
export function fenceUnfencedCode(text: string): string {
  const lines = text.split("\n");
  const out: string[] = [];
  let block: string[] = [];
  let fence: string | undefined;

  const flush = () => {
    if (block.length === 0) return;
    const start = codeStartIn(block);
    if (start < 0) appendAll(out, block);
    else {
      appendAll(out, block.slice(0, start)).push("```text");
      appendAll(out, block.slice(start)).push("```");
    }
    block = [];
  };

  for (const line of lines) {
    if (fence !== undefined) {
      out.push(line);
      const close = fenceOpen.exec(line)?.[1];
      if (close && close[0] === fence[0] && close.length >= fence.length && line.trim() === close) fence = undefined;
      continue;
    }
    const open = fenceOpen.exec(line)?.[1];
    if (open) {
      flush();
      fence = open;
      out.push(line);
      continue;
    }
    if (line.trim() === "") {
      flush();
      out.push(line);
      continue;
    }
    block.push(line);
  }
  flush();
  return out.join("\n");
}
