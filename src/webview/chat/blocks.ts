// A message body rendered block by block, so that a streamed answer costs the same per frame at
// 64 KB as at 1 KB: the text (after unfencedCode.ts) is split into Markdown blocks — at blank lines
// outside fences, at fences, and at a line end once a block passes `maxBlockChars` — and each block
// keeps its DOM. An update re-renders only the blocks from the first one whose text changed
// (while streaming: the last one). A fence that is still open, or longer than plainCodeChars, is
// shown verbatim without Markdown or highlighting.
import { fenceUnfencedCode } from "./unfencedCode";
import { plainCodeChars, renderFencedMarkdown, renderPlainCode, type CodeActions } from "./render";

export interface Block {
  text: string;
  /** A fenced code block: its language and code. */
  fence?: { language: string; code: string; closed: boolean };
}

/** A block of prose ends at a line end after this many characters (bounds the work per frame). */
export const maxBlockChars = 2_000;

const fenceLine = /^ {0,3}(`{3,}|~{3,})(.*)$/;

/** Splits Markdown into blocks that render the same on their own. Pure. */
export function splitBlocks(text: string, maxChars = maxBlockChars): Block[] {
  const blocks: Block[] = [];
  let current = "";
  let fence: { marker: string; language: string; body: string } | undefined;
  const close = () => {
    if (current !== "") blocks.push({ text: current });
    current = "";
  };
  let at = 0;
  while (at < text.length) {
    const newline = text.indexOf("\n", at);
    const end = newline < 0 ? text.length : newline + 1;
    const line = text.slice(at, end);
    at = end;
    const bare = line.replace(/\r?\n$/, "");
    if (fence) {
      const match = fenceLine.exec(bare);
      if (match && match[1]![0] === fence.marker[0] && match[1]!.length >= fence.marker.length && match[2]!.trim() === "") {
        blocks.push({ text: current + line, fence: { language: fence.language, code: fence.body, closed: true } });
        current = "";
        fence = undefined;
      } else {
        current += line;
        fence.body += line;
      }
      continue;
    }
    const open = fenceLine.exec(bare);
    if (open && !(open[1]![0] === "`" && open[2]!.includes("`"))) {
      close();
      fence = { marker: open[1]!, language: open[2]!.trim().split(/\s+/)[0] ?? "", body: "" };
      current = line;
      continue;
    }
    current += line;
    if (bare.trim() === "" && newline >= 0) close();
    else if (current.length > maxChars && newline >= 0) close();
  }
  if (fence) blocks.push({ text: current, fence: { language: fence.language, code: fence.body, closed: false } });
  else close();
  return blocks;
}

/** Where `text` can be cut so that what comes after never changes what comes before: after a blank
 * line outside a fence, or after a fence's closing line (unfencedCode.ts and splitBlocks both treat
 * each side on its own there). The length of the longest such prefix. */
export function stablePrefix(text: string): number {
  let stable = 0;
  let fence: string | undefined;
  let at = 0;
  while (at < text.length) {
    const newline = text.indexOf("\n", at);
    if (newline < 0) break;
    const bare = text.slice(at, newline).replace(/\r$/, "");
    at = newline + 1;
    const match = fenceLine.exec(bare);
    if (fence !== undefined) {
      if (match && match[1]![0] === fence[0] && match[1]!.length >= fence.length && match[2]!.trim() === "") {
        fence = undefined;
        stable = at;
      }
    } else if (match && !(match[1]![0] === "`" && match[2]!.includes("`"))) fence = match[1]!;
    else if (bare.trim() === "") stable = at;
  }
  return stable;
}

interface Rendered {
  text: string;
  nodes: ChildNode[];
  /** An open fence shown verbatim: streamed code is appended to its text node. */
  open?: { head: string; code: string; text: Text };
}

/** One message body: renders Markdown block by block and keeps each block's nodes. Text before the
 * last stable point (stablePrefix) is final: it is neither processed nor compared again. */
export class BodyRenderer {
  private rendered: Rendered[] = [];
  private cursor: HTMLSpanElement | undefined;
  /** The raw text shown, and how much of it is final. */
  private source = "";
  private frozen = 0;

  constructor(
    readonly element: HTMLElement,
    private readonly actions: CodeActions | undefined,
  ) {}

  /** Shows `text`; only blocks that changed since the last call are rendered again. */
  update(text: string, streaming: boolean): void {
    if (this.frozen > 0 && (text.length < this.frozen || !text.startsWith(this.source.slice(0, this.frozen)))) {
      // Not a continuation (an edited or replaced text): start over.
      this.element.replaceChildren();
      this.rendered = [];
      this.frozen = 0;
    }
    this.source = text;
    const tail = text.slice(this.frozen);
    const cut = stablePrefix(tail);
    const settled = cut > 0 ? splitBlocks(fenceUnfencedCode(tail.slice(0, cut))) : [];
    const blocks = [...settled, ...splitBlocks(fenceUnfencedCode(tail.slice(cut)))];
    let same = 0;
    while (same < blocks.length && same < this.rendered.length && blocks[same]!.text === this.rendered[same]!.text) same++;
    this.cursor?.remove();
    const grown = this.growOpenFence(blocks, same);
    if (grown) same++;
    for (const stale of this.rendered.splice(same)) for (const node of stale.nodes) node.remove();
    const doc = this.element.ownerDocument;
    for (const block of blocks.slice(same)) {
      let rendered: Rendered;
      if (block.fence && (!block.fence.closed || block.fence.code.length > plainCodeChars)) {
        const plain = renderPlainCode(block.fence.language, block.fence.code, doc, this.actions);
        rendered = { text: block.text, nodes: [plain.block], ...(block.fence.closed ? {} : { open: { head: headOf(block.text), code: block.fence.code, text: plain.text } }) };
        this.element.append(plain.block);
      } else {
        const fragment = renderFencedMarkdown(block.text, doc, this.actions);
        rendered = { text: block.text, nodes: Array.from(fragment.childNodes) };
        this.element.append(fragment);
      }
      this.rendered.push(rendered);
    }
    // The settled blocks are final: they stay in the DOM and leave the comparison.
    this.rendered.splice(0, settled.length);
    this.frozen += cut;
    if (streaming) this.placeCursor();
  }

  /** The block at `index` is the open fence rendered last time, grown: appends the new code. */
  private growOpenFence(blocks: Block[], index: number): boolean {
    const previous = this.rendered[index];
    const block = blocks[index];
    if (!previous?.open || !block?.fence || block.fence.closed || index !== blocks.length - 1 || index !== this.rendered.length - 1) return false;
    if (headOf(block.text) !== previous.open.head || !block.fence.code.startsWith(previous.open.code)) return false;
    previous.open.text.appendData(block.fence.code.slice(previous.open.code.length));
    previous.open.code = block.fence.code;
    previous.text = block.text;
    return true;
  }

  private placeCursor(): void {
    const doc = this.element.ownerDocument;
    this.cursor ??= Object.assign(doc.createElement("span"), { className: "cursor" });
    let last = this.element.lastElementChild;
    // Into the last paragraph or the code of a streaming code block, so it follows the text.
    while (last && last.lastElementChild && /^(DIV|PRE|UL|OL|LI|BLOCKQUOTE)$/.test(last.tagName)) last = last.lastElementChild;
    (last ?? this.element).append(this.cursor);
  }
}

const headOf = (text: string) => text.slice(0, Math.max(0, text.indexOf("\n")));
