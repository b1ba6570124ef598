// A small LRU of recent inline suggestions, shared by the client (answers without a server round
// trip or debounce) and the server (answers without a model call). When the user types the first
// characters of a suggestion, the text before the cursor is the original prefix plus those
// characters and the text after it is unchanged: the rest of the suggestion is still right.
// Pure: no `vscode`, no LSP.

export interface SuggestionKey {
  /** Document URI. */
  uri: string;
  /** The last characters before the cursor (at most `SuggestionCache.prefixChars`). */
  prefixTail: string;
  /** True when `prefixTail` is the whole text before the cursor (the document is short). */
  prefixIsWhole: boolean;
  /** The first characters after the cursor (at most `SuggestionCache.suffixChars`). */
  suffixHead: string;
}

interface Entry extends SuggestionKey {
  text: string;
}

export class SuggestionCache {
  /** Characters of context compared before the cursor / after it. */
  static readonly prefixChars = 1000;
  static readonly suffixChars = 400;

  private entries: Entry[] = [];

  constructor(readonly capacity = 32) {}

  /** Key parts for a cursor at `offset` in `text` (the server has the whole text). */
  static keyOf(uri: string, text: string, offset: number): SuggestionKey {
    const from = Math.max(0, offset - SuggestionCache.prefixChars - SuggestionCache.maxSuggestionChars);
    return {
      uri,
      prefixTail: text.slice(from, offset),
      prefixIsWhole: from === 0,
      suffixHead: text.slice(offset, offset + SuggestionCache.suffixChars),
    };
  }

  /** Longest suggestion remembered (longer ones are not cached). */
  static readonly maxSuggestionChars = 2000;

  get size(): number {
    return this.entries.length;
  }

  add(key: SuggestionKey, text: string): void {
    if (text === "" || text.length > SuggestionCache.maxSuggestionChars) return;
    const entry: Entry = {
      ...key,
      prefixTail: key.prefixTail.slice(-SuggestionCache.prefixChars),
      prefixIsWhole: key.prefixIsWhole && key.prefixTail.length <= SuggestionCache.prefixChars,
      suffixHead: key.suffixHead.slice(0, SuggestionCache.suffixChars),
      text,
    };
    this.entries = this.entries.filter((e) => !(e.uri === entry.uri && e.prefixTail === entry.prefixTail && e.suffixHead === entry.suffixHead));
    this.entries.unshift(entry);
    if (this.entries.length > this.capacity) this.entries.length = this.capacity;
  }

  /**
   * The rest of a remembered suggestion that the text around the cursor is consistent with: the
   * prefix is a remembered prefix plus the first characters of its suggestion (possibly none) and
   * the suffix is unchanged. Most recent entries win; a hit becomes the most recent.
   */
  lookup(key: SuggestionKey): string | undefined {
    const suffixHead = key.suffixHead.slice(0, SuggestionCache.suffixChars);
    for (let index = 0; index < this.entries.length; index++) {
      const entry = this.entries[index]!;
      if (entry.uri !== key.uri || entry.suffixHead !== suffixHead) continue;
      const rest = remainder(entry, key);
      if (rest === undefined) continue;
      this.entries.splice(index, 1);
      this.entries.unshift(entry);
      return rest;
    }
    return undefined;
  }

  /** Forgets every entry of one document (closed), or all of them. */
  clear(uri?: string): void {
    this.entries = uri === undefined ? [] : this.entries.filter((entry) => entry.uri !== uri);
  }
}

function remainder(entry: Entry, key: SuggestionKey): string | undefined {
  const prefix = key.prefixTail;
  const text = entry.text;
  // k = characters of the suggestion typed since; the longest consistent k wins.
  for (let k = Math.min(text.length - 1, prefix.length); k >= 0; k--) {
    if (k > 0 && !prefix.endsWith(text.slice(0, k))) continue;
    const before = prefix.slice(0, prefix.length - k);
    if (entry.prefixIsWhole) {
      if (key.prefixIsWhole && before === entry.prefixTail) return text.slice(k);
      continue;
    }
    // The remembered tail is a window onto a longer prefix: the current one must end with it.
    if (before.endsWith(entry.prefixTail)) return text.slice(k);
  }
  return undefined;
}
