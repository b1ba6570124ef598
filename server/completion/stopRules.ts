// Where a fill-in-the-middle suggestion ends. FIM middles from small models do not reliably end
// with an end-of-generation token, so the text is cut by rules, checked after every token while it
// is generated (`findStop(…, final = false)`) and once more on the finished text (`finishSuggestion`):
//   - max lines;
//   - a blank line after some content (end of a statement group);
//   - end of block: a line indented less than the block the suggestion started in;
//   - the suffix: a generated line equal to the next non-blank line after the cursor (the model is
//     writing code that is already there);
//   - text after the cursor on its line: the suggestion stays on that line, and a tail that repeats
//     the start of that text ("a, b)" before ")") is trimmed.
// Pure: no node-llama-cpp, no LSP.

import { lineStartWithin } from "./prompt";

export interface StopContext {
  /** Upper bound on lines in the suggestion (a first line that only ends the cursor line is free). */
  maxLines: number;
  /** Text of the cursor's line before the cursor. */
  linePrefix: string;
  /** Text after the cursor (a few lines are enough; "" at the end of the document). */
  suffix: string;
}

export type StopReason = "maxLines" | "blankLine" | "endOfBlock" | "suffixLine" | "singleLine";

export interface StopDecision {
  stop: boolean;
  /** How many characters of the text to keep. */
  keep: number;
  reason?: StopReason;
}

/** Leading whitespace width (a tab counts 4). */
export function indentWidth(line: string): number {
  let width = 0;
  for (const ch of line) {
    if (ch === " ") width += 1;
    else if (ch === "\t") width += 4;
    else break;
  }
  return width;
}

function isBlank(line: string): boolean {
  return line.trim() === "";
}

/** The rest of the cursor's line after the cursor. */
export function lineSuffixOf(suffix: string): string {
  const end = suffix.indexOf("\n");
  return end < 0 ? suffix : suffix.slice(0, end);
}

/** The first non-blank line after the cursor's line, trimmed ("" if none). */
function nextSuffixLine(suffix: string): string {
  const lines = suffix.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!isBlank(line)) return line.trim();
  }
  return "";
}

/**
 * Decides whether generation should stop, and where to cut. With `final = false` the last line of
 * `text` may still be growing, so rules that need a whole line wait for its newline.
 */
export function findStop(text: string, context: StopContext, final = false): StopDecision {
  const lines = text.split("\n");
  // Start offset of every line in `text`.
  const starts: number[] = [];
  let at = 0;
  for (const line of lines) {
    starts.push(at);
    at += line.length + 1;
  }
  const endOfLine = (i: number) => starts[i]! + lines[i]!.length;
  const cutBefore = (i: number, reason: StopReason): StopDecision => ({ stop: true, keep: Math.max(0, starts[i]! - 1), reason });

  const singleLine = !isBlank(lineSuffixOf(context.suffix));
  if (singleLine && lines.length > 1) return cutBefore(1, "singleLine");

  // A first line that only finishes the cursor's (empty) rest does not count as a line.
  const firstCounted = isBlank(lines[0]!) ? 1 : 0;
  const nextLine = nextSuffixLine(context.suffix);
  const firstLineHasContent = !isBlank(lines[0]!);
  let referenceIndent = firstLineHasContent ? indentWidth(context.linePrefix + lines[0]!) : undefined;
  let seenContent = firstLineHasContent;

  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const complete = final || i < lines.length - 1;
    if (i - firstCounted + 1 > context.maxLines) return cutBefore(i, "maxLines");
    if (isBlank(line)) {
      if (complete && seenContent) {
        // Keep everything up to the end of the last line with content.
        let j = i - 1;
        while (j > 0 && isBlank(lines[j]!)) j--;
        return { stop: true, keep: endOfLine(j), reason: "blankLine" };
      }
      continue;
    }
    // The line has content: its indentation is known.
    const indent = indentWidth(line);
    if (referenceIndent === undefined) {
      referenceIndent = indent;
    } else if (indent < referenceIndent) {
      return cutBefore(i, "endOfBlock");
    }
    if (complete && nextLine !== "" && line.trim() === nextLine) return cutBefore(i, "suffixLine");
    seenContent = true;
  }
  return { stop: false, keep: text.length };
}

const openers = "([{";
const closers = ")]}";

/** Closing brackets that match no opening bracket before them, and opening brackets left open. */
function bracketCounts(text: string): { unmatchedClosers: number; unclosedOpeners: number } {
  const stack: string[] = [];
  let unmatched = 0;
  for (const ch of text) {
    const open = openers.indexOf(ch);
    if (open >= 0) {
      stack.push(ch);
      continue;
    }
    const close = closers.indexOf(ch);
    if (close < 0) continue;
    if (stack.length > 0 && stack[stack.length - 1] === openers[close]) stack.pop();
    else unmatched++;
  }
  return { unmatchedClosers: unmatched, unclosedOpeners: stack.length };
}

/** Closing brackets in `text` that match no opening bracket before them. */
export function unmatchedClosers(text: string): number {
  return bracketCounts(text).unmatchedClosers;
}

/** Brackets on a line that do not pair up (unmatched closers plus unclosed openers). */
export function bracketImbalance(text: string): number {
  const counts = bracketCounts(text);
  return counts.unmatchedClosers + counts.unclosedOpeners;
}

/**
 * Trims a tail of a one-line suggestion that repeats the start of the text after the cursor
 * ("a, b)" typed before ")" would give "a, b))"). A tail is trimmed when that balances the line's
 * brackets better, or when it is the whole rest of the line and the balance stays the same.
 */
export function trimLineSuffixOverlap(suggestion: string, linePrefix: string, lineSuffix: string): string {
  const rest = lineSuffix.trimEnd();
  if (rest === "" || suggestion.includes("\n")) return suggestion;
  const full = bracketImbalance(linePrefix + suggestion + lineSuffix);
  for (let k = Math.min(rest.length, suggestion.length); k >= 1; k--) {
    const overlap = rest.slice(0, k);
    if (!suggestion.endsWith(overlap)) continue;
    const trimmed = suggestion.slice(0, suggestion.length - k);
    const after = bracketImbalance(linePrefix + trimmed + lineSuffix);
    if (after < full || (k === rest.length && after === full)) return trimmed;
  }
  return suggestion;
}

/** Applies every rule to the finished text; "" means there is nothing worth suggesting. */
export function finishSuggestion(text: string, context: StopContext): string {
  const decision = findStop(text, context, true);
  let result = text.slice(0, decision.keep).trimEnd();
  const lineSuffix = lineSuffixOf(context.suffix);
  result = trimLineSuffixOverlap(result, context.linePrefix, lineSuffix);
  if (result.trim() === "") return "";
  return result;
}

/** The prompt's view of the document when the cursor stands after indentation only. */
export interface IndentView {
  text: string;
  offset: number;
  /** The indentation left out of the prompt ("" when the view is the document itself). */
  indent: string;
}

/**
 * When only whitespace precedes the cursor on its line (the editor's auto-indent), the prompt ends
 * at the line start instead: models write a line's indentation together with its first token, and a
 * prompt ending in spaces makes them indent a second time.
 */
export function withoutCursorIndent(text: string, offset: number): IndentView {
  // Indentation longer than this is not the editor's auto-indent (and never scanned for).
  const lineStart = lineStartWithin(text, offset, Math.max(0, offset - 1024));
  if (lineStart < 0) return { text, offset, indent: "" };
  const indent = text.slice(lineStart, offset);
  if (indent === "" || !/^[ \t]+$/.test(indent)) return { text, offset, indent: "" };
  return { text: text.slice(0, lineStart) + text.slice(offset), offset: lineStart, indent };
}

/** Turns a suggestion written from the line start back into text to insert after `indent`. */
export function fitToCursorIndent(suggestion: string, indent: string): string {
  if (indent === "" || suggestion.startsWith(indent)) return suggestion.slice(indent.length);
  const lead = /^[ \t]*/.exec(suggestion)![0];
  // The model indents less (or differently) than the editor did: the editor's indentation wins.
  return suggestion.slice(lead.length);
}
