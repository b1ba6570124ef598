// A message body rendered block by block, so that a streamed answer costs the same per frame at
// 64 KB as at 1 KB: the text (after unfencedCode.ts) is split into Markdown blocks — at blank lines
// outside fences, at fences, and at a line end once a block passes `maxBlockChars` — and each block
// keeps its DOM. An update re-renders only the blocks from the first one whose text changed
// (while streaming: the last one). A fence that is still open, or longer than plainCodeChars, is
// shown verbatim without Markdown or highlighting.
import { fenceUnfencedCode } from "./unfencedCode";
import { plainCodeChars, renderMarkdown, renderPlainCode, type CodeActions } from "./render";

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

interface Rendered {
  text: string;
  nodes: ChildNode[];
}

/** One message body: renders Markdown block by block and keeps each block's nodes. */
export class BodyRenderer {
  private rendered: Rendered[] = [];
  private cursor: HTMLSpanElement | undefined;

  constructor(
    readonly element: HTMLElement,
    private readonly actions: CodeActions | undefined,
  ) {}

  /** Shows `text`; only blocks that changed since the last call are rendered again. */
  update(text: string, streaming: boolean): void {
    const blocks = splitBlocks(fenceUnfencedCode(text));
    let same = 0;
    while (same < blocks.length && same < this.rendered.length && blocks[same]!.text === this.rendered[same]!.text) same++;
    for (const stale of this.rendered.splice(same)) for (const node of stale.nodes) node.remove();
    this.cursor?.remove();
    const doc = this.element.ownerDocument;
    for (const block of blocks.slice(same)) {
      const fragment =
        block.fence && (!block.fence.closed || block.fence.code.length > plainCodeChars)
          ? renderPlainCode(block.fence.language, block.fence.code, doc, this.actions)
          : renderMarkdown(block.text, doc, this.actions);
      const nodes = fragment instanceof DocumentFragment ? Array.from(fragment.childNodes) : [fragment];
      this.element.append(fragment);
      this.rendered.push({ text: block.text, nodes });
    }
    if (streaming) {
      this.cursor ??= Object.assign(doc.createElement("span"), { className: "cursor" });
      let last = this.element.lastElementChild;
      // Into the last paragraph or the code of a streaming code block, so it follows the text.
      while (last && last.lastElementChild && /^(DIV|PRE|UL|OL|LI|BLOCKQUOTE)$/.test(last.tagName)) last = last.lastElementChild;
      (last ?? this.element).append(this.cursor);
    }
  }
}
