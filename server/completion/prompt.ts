// Token-level prompts for inline completions, built so that consecutive requests share the longest
// possible token prefix (the completion sequence then evaluates only what changed):
//   FIM (prefix-suffix-middle):  [BOS] <PRE> prefix… <SUF> suffix… <MID>   → the model writes the middle
//   prefix only (no FIM tokens): [BOS] prefix…                              → the model continues
// The prefix window starts at a line ("anchor") that is kept from one request to the next while the
// prefix still fits, so typing forward only changes the tokens at the cursor; when it no longer
// fits, the anchor moves down to leave room to grow (one full evaluation, then reuse again).
// Pure: the tokenizer is passed in.

import { appendAll } from "../../common/arrays";

export interface FimTokenIds {
  prefix: number;
  suffix: number;
  middle: number;
}

export interface PromptOptions {
  /** The whole document. */
  text: string;
  /** Cursor offset in `text`. */
  offset: number;
  /** Text → tokens, without special-token parsing and without BOS. */
  tokenize: (text: string) => number[];
  /** BOS to put first, or null when the model wants none. */
  bos: number | null;
  /** FIM token ids, or null for a prefix-only prompt. */
  fim: FimTokenIds | null;
  /** Most tokens the prompt may have. */
  budget: number;
  /** Most suffix tokens (FIM only); the suffix is re-evaluated on every keystroke, so keep it short. */
  maxSuffixTokens: number;
  /** The previous request's anchor in this document (offset of a line start), if any. */
  anchor?: number;
}

export interface Prompt {
  tokens: number[];
  mode: "fim" | "prefix";
  prefixTokens: number;
  suffixTokens: number;
  /** Offset where the prefix window starts (pass back as `anchor` next time). */
  anchor: number;
  /** Whether the anchor moved (or was set) for this request. */
  reanchored: boolean;
}

/** Share of the prefix budget a new anchor uses, leaving room to type before it moves again. */
export const reanchorFill = 0.75;

function isLineStart(text: string, offset: number): boolean {
  return offset === 0 || text[offset - 1] === "\n";
}

/** Code rarely has more characters per token than this; bounds how far up the window can start. */
export const maxCharsPerToken = 8;

/**
 * Start of the line holding `offset`, searched no further back than `floor`: -1 when the line
 * starts before it (a long line). Bounded by offset - floor, whatever the document's size.
 */
export function lineStartWithin(text: string, offset: number, floor: number): number {
  // A slice is a view (no copy), so its lastIndexOf stops at the floor: a plain lastIndexOf on a
  // one-line document would walk back to the document's start.
  const newline = text.slice(floor, offset).lastIndexOf("\n");
  if (newline >= 0) return floor + newline + 1;
  return isLineStart(text, floor) ? floor : -1;
}

/**
 * Chooses the earliest line start such that text[start, offset) is at most `target` tokens
 * (binary search over the line starts in reach). Returns the start and its tokens. Only the
 * `target * maxCharsPerToken` characters before the cursor are ever looked at or tokenized: on a
 * line longer than that (minified code) the window starts inside the line.
 */
function chooseAnchor(
  text: string,
  offset: number,
  target: number,
  tokenize: (text: string) => number[],
): { start: number; tokens: number[] } {
  const floor = Math.max(0, offset - target * maxCharsPerToken);
  const lineStart = lineStartWithin(text, offset, floor);
  if (lineStart < 0) return fitTail(text, floor, offset, target, tokenize);
  // The first line start at or after the floor; every newline searched lies before lineStart.
  const starts = [isLineStart(text, floor) ? floor : text.indexOf("\n", floor) + 1];
  for (let i = text.indexOf("\n", starts[0]!); i >= 0 && i + 1 <= lineStart; i = text.indexOf("\n", i + 1)) {
    if (i + 1 > starts[starts.length - 1]!) starts.push(i + 1);
  }
  let low = 0;
  let high = starts.length - 1;
  let best: { start: number; tokens: number[] } | undefined;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const tokens = tokenize(text.slice(starts[middle], offset));
    if (tokens.length <= target) {
      best = { start: starts[middle]!, tokens };
      high = middle - 1;
    } else {
      low = middle + 1;
    }
  }
  if (best !== undefined) return best;
  // The cursor's own line does not fit: a window inside it.
  return fitTail(text, lineStart, offset, target, tokenize);
}

/**
 * A start inside text[from, offset) whose tail has at most `target` tokens: the window shrinks by
 * the measured characters per token (a few tokenizations of at most offset - from characters), so
 * the start can be kept as the anchor while the user types on (the tail then still fits).
 */
function fitTail(
  text: string,
  from: number,
  offset: number,
  target: number,
  tokenize: (text: string) => number[],
): { start: number; tokens: number[] } {
  let start = from;
  for (let attempt = 0; attempt < 4; attempt++) {
    const tokens = tokenize(text.slice(start, offset));
    if (tokens.length <= target) return { start, tokens };
    start = Math.max(start + 1, offset - Math.floor(((offset - start) * target * 0.95) / tokens.length));
  }
  const tokens = tokenize(text.slice(start, offset));
  return { start, tokens: tokens.slice(Math.max(0, tokens.length - target)) };
}

export function buildPrompt(options: PromptOptions): Prompt {
  const { text, offset, tokenize, bos, fim } = options;
  const special = (bos === null ? 0 : 1) + (fim === null ? 0 : 3);
  let suffixTokens: number[] = [];
  if (fim !== null) {
    const limit = Math.max(0, Math.min(options.maxSuffixTokens, Math.floor((options.budget - special) / 4)));
    if (limit > 0) suffixTokens = tokenize(text.slice(offset, offset + limit * 8)).slice(0, limit);
  }
  const prefixBudget = Math.max(1, options.budget - special - suffixTokens.length);

  let anchor = options.anchor;
  let prefixTokens: number[] | undefined;
  let reanchored = false;
  // A kept anchor is a line start, or (long lines) a point on the cursor's line; either way only a
  // bounded number of characters before the cursor is tokenized.
  const window = prefixBudget * maxCharsPerToken;
  if (
    anchor !== undefined &&
    anchor <= offset &&
    offset - anchor <= window &&
    (isLineStart(text, anchor) || lineStartWithin(text, offset, anchor) < 0)
  ) {
    const tokens = tokenize(text.slice(anchor, offset));
    if (tokens.length <= prefixBudget) prefixTokens = tokens;
  }
  if (prefixTokens === undefined) {
    const whole = offset <= prefixBudget * 6 ? tokenize(text.slice(0, offset)) : undefined;
    if (whole !== undefined && whole.length <= prefixBudget) {
      anchor = 0;
      prefixTokens = whole;
    } else {
      const chosen = chooseAnchor(text, offset, Math.max(1, Math.floor(prefixBudget * reanchorFill)), tokenize);
      anchor = chosen.start;
      prefixTokens = chosen.tokens;
    }
    reanchored = anchor !== options.anchor;
  }

  const tokens: number[] = [];
  if (bos !== null) tokens.push(bos);
  if (fim !== null) {
    tokens.push(fim.prefix);
    appendAll(tokens, prefixTokens).push(fim.suffix);
    appendAll(tokens, suffixTokens).push(fim.middle);
  } else {
    appendAll(tokens, prefixTokens);
  }
  return {
    tokens,
    mode: fim === null ? "prefix" : "fim",
    prefixTokens: prefixTokens.length,
    suffixTokens: suffixTokens.length,
    anchor: anchor!,
    reanchored,
  };
}
