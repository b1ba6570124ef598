// Turns model output (untrusted Markdown) into DOM nodes, safely:
//   code written without a fence is fenced first (unfencedCode.ts) →
//   markdown-it with raw HTML disabled (HTML in the output is shown as text) and its link
//   validation (no javascript:/vbscript:/data: links) → highlight.js for code blocks that name
//   their language (never guessed: highlightAuto tries every grammar; blocks over 20K characters stay plain) →
//   parsed in an inert document (a <template>'s: no script runs, nothing loads, no handler fires) →
//   DOMPurify sanitizes that tree in place (an allowlist of tags and attributes, http(s)/mailto
//   links only) → only then adopted into the page, as a DocumentFragment. Nothing of the model's
//   output is ever parsed in the live document. (In place, not DOMPurify's own string parse: the
//   same checks at half the cost, which counts at every frame of a streamed answer.)
// Code blocks get a toolbar (language, Copy, Insert at cursor) built with DOM APIs.
import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/common";
import MarkdownIt from "markdown-it";
import { fenceUnfencedCode } from "./unfencedCode";

/** Code blocks longer than this are shown without highlighting. */
export const plainCodeChars = 20_000;

const markdown = new MarkdownIt({
  html: false,
  linkify: true,
  // Models often write code without fences: keep their line breaks instead of joining lines into a paragraph.
  breaks: true,
  highlight: (code, language) => {
    const lang = language.trim().toLowerCase();
    if (lang === "" || code.length > plainCodeChars || !hljs.getLanguage(lang)) return ""; // markdown-it escapes it
    try {
      return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
    } catch {
      return "";
    }
  },
});

const allowedTags = [
  "div", // the root that DOMPurify sanitizes in place; markdown-it (raw HTML off) never writes one
  "p", "br", "hr", "em", "strong", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li",
  "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "table", "thead", "tbody", "tr", "th", "td",
];

const purifyConfig = {
  ALLOWED_TAGS: allowedTags,
  ALLOWED_ATTR: ["href", "title", "class", "start", "align"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  ALLOW_DATA_ATTR: false,
  IN_PLACE: true as const,
};

let hooked = false;

function hookLinks(): void {
  if (hooked) return;
  hooked = true;
  // Links open outside the webview (the extension host decides); never in the webview itself.
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      node.setAttribute("rel", "noopener noreferrer");
      if (!node.hasAttribute("href")) node.removeAttribute("title");
    }
  });
}

export interface CodeActions {
  copy(code: string): void;
  insert(code: string): void;
}

function button(doc: Document, icon: string, label: string, onClick: () => void): HTMLButtonElement {
  const element = doc.createElement("button");
  element.type = "button";
  element.className = "code-action";
  element.title = label;
  element.setAttribute("aria-label", label);
  const glyph = doc.createElement("span");
  glyph.className = `codicon codicon-${icon}`;
  const text = doc.createElement("span");
  text.className = "code-action-label";
  text.textContent = label.split(" ")[0] ?? label;
  element.append(glyph, text);
  element.addEventListener("click", onClick);
  return element;
}

/**
 * Block quotes or list items nested deeper than markdown-it (100 levels: it drops everything after)
 * or DOMPurify (255: it removes the subtree) keep, in a form a model or a pasted file can produce:
 * such text is shown as plain text rather than losing its end.
 */
const deepNesting = /^(?:[ \t]*>){48}|^[ \t]{160,}(?:[-*+]|\d{1,9}[.)])[ \t]/m;

/** Model Markdown → sanitized nodes. `actions` adds the code-block toolbars. */
export function renderMarkdown(text: string, doc: Document = document, actions?: CodeActions): DocumentFragment {
  return renderFencedMarkdown(fenceUnfencedCode(text), doc, actions);
}

/** renderMarkdown for text that went through fenceUnfencedCode already. */
export function renderFencedMarkdown(text: string, doc: Document = document, actions?: CodeActions): DocumentFragment {
  if (deepNesting.test(text)) return renderPlain(text, doc);
  hookLinks();
  const html = markdown.render(text);
  const inert = doc.createElement("template").content.ownerDocument;
  const root = inert.createElement("div");
  root.innerHTML = html;
  DOMPurify.sanitize(root, purifyConfig);
  const adopted = doc.createDocumentFragment();
  for (const node of Array.from(root.childNodes)) adopted.append(doc.importNode(node, true));
  for (const pre of Array.from(adopted.querySelectorAll("pre"))) {
    const code = pre.querySelector("code");
    const source = code?.textContent ?? pre.textContent ?? "";
    const language = /language-([\w+#.-]+)/.exec(code?.className ?? "")?.[1] ?? "";
    code?.classList.add("hljs");
    const block = codeBlock(doc, language, () => source, actions);
    pre.replaceWith(block);
    block.append(pre);
  }
  return adopted;
}

/** A code block's frame and toolbar (the <pre> is appended by the caller). */
function codeBlock(doc: Document, language: string, source: () => string, actions?: CodeActions): HTMLDivElement {
  const block = doc.createElement("div");
  block.className = "code-block";
  const bar = doc.createElement("div");
  bar.className = "code-bar";
  const name = doc.createElement("span");
  name.className = "code-language";
  name.textContent = language || "text";
  bar.append(name);
  if (actions) {
    const copy = button(doc, "copy", "Copy code", () => actions.copy(source()));
    const insert = button(doc, "insert", "Insert at cursor", () => actions.insert(source()));
    bar.append(copy, insert);
  }
  block.append(bar);
  return block;
}

/** A code block shown verbatim, without Markdown or highlighting (a fence still streaming, or a huge
 * one); `text` is its code as one text node, which a streaming fence appends to. */
export function renderPlainCode(language: string, source: string, doc: Document = document, actions?: CodeActions): { block: HTMLDivElement; text: Text } {
  const text = doc.createTextNode(source);
  const block = codeBlock(doc, language, () => text.data, actions);
  const pre = doc.createElement("pre");
  const code = doc.createElement("code");
  code.className = "hljs";
  code.append(text);
  pre.append(code);
  block.append(pre);
  return { block, text };
}

/** Plain text as nodes (user messages): never parsed as HTML. */
export function renderPlain(text: string, doc: Document = document): DocumentFragment {
  const fragment = doc.createDocumentFragment();
  const lines = text.split("\n");
  lines.forEach((line, index) => {
    if (index > 0) fragment.append(doc.createElement("br"));
    fragment.append(doc.createTextNode(line));
  });
  return fragment;
}
