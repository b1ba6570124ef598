// The transcript, windowed and incremental. The page holds the data of at most `dataLimit`
// consecutive messages (pages from the extension) and the DOM of at most ~`domLimit` of them: the
// newest while the user follows the conversation, or those around the scroll position. Scrolling
// near an end adds `step` messages there and drops as many at the other end (the scroll position is
// kept); past the loaded data it asks the extension for the next page. Updates are patches: a new
// message is appended, a changed one updated in place, a window move toggles classes on the
// rendered messages, a token re-renders the last block of one body in the next animation frame.
import type { FromWebview, ViewMessage } from "../../../common/chatMessages";
import { outsideAt, type ViewWindow } from "../../../common/chatWindow";
import { icon } from "./dom";
import { MessageView, type MessageHooks, type WindowMark } from "./message";

/** Messages in the DOM at most (plus `step` while scrolling). */
export const domLimit = 40;
const dataLimit = 300;
const step = 10;
const pageSize = 40;
/** Pixels from an end of the scroll range at which more messages are added there. */
const edge = 400;

export interface TranscriptHooks extends MessageHooks {
  emptyView(): HTMLElement;
}

export class Transcript {
  private chatId = "";
  private total = 0;
  private data: ViewMessage[] = [];
  private dataStart = 0;
  private readonly views = new Map<string, MessageView>();
  private domStart = 0;
  private domEnd = 0;
  private window: ViewWindow | undefined;
  private readonly divider: HTMLElement;
  private requested: string | undefined;
  private target: { index: number; id?: string } | undefined;
  private readonly pendingText = new Set<MessageView>();
  private frame = 0;
  private following = true;

  constructor(
    private readonly root: HTMLElement,
    private readonly hooks: TranscriptHooks,
  ) {
    this.divider = document.createElement("div");
    this.divider.className = "window-divider";
    this.divider.setAttribute("role", "separator");
    root.addEventListener("scroll", () => this.onScroll(), { passive: true });
    // Messages that do not fill the view cannot be scrolled: a wheel up at the top loads older ones.
    root.addEventListener(
      "wheel",
      (event) => {
        if (event.deltaY >= 0 || root.scrollTop > 0) return;
        this.following = false;
        this.extendUp();
      },
      { passive: true },
    );
  }

  get chat(): string {
    return this.chatId;
  }

  /** The chrome's chat and message count: another chat starts from scratch. */
  show(chatId: string, total: number): void {
    if (chatId !== this.chatId) {
      this.chatId = chatId;
      this.data = [];
      this.dataStart = 0;
      this.window = undefined;
      this.target = undefined;
      this.requested = undefined;
      this.following = true;
      this.clearDom();
    }
    this.total = total;
    if (total === 0 && this.views.size === 0) this.root.replaceChildren(this.hooks.emptyView());
  }

  /** Consecutive messages from the extension (the newest page, or one asked for). */
  page(start: number, total: number, messages: ViewMessage[]): void {
    this.total = total;
    this.requested = undefined;
    if (messages.length === 0) return;
    const oldStart = this.dataStart;
    const oldEnd = this.dataEnd;
    const end = start + messages.length;
    if (this.data.length === 0 || end < oldStart || start > oldEnd) {
      this.data = messages.slice();
      this.dataStart = start;
      this.clearDom();
    } else {
      const from = Math.min(start, oldStart);
      const merged: ViewMessage[] = new Array(Math.max(end, oldEnd) - from);
      this.data.forEach((message, i) => (merged[oldStart + i - from] = message));
      for (const message of messages) merged[message.index - from] = message;
      this.data = merged;
      this.dataStart = from;
      for (const message of messages) this.views.get(message.id)?.update(message);
    }
    if (this.target && this.has(this.target.index)) this.showAround(this.target.index, this.target.id);
    else if (this.views.size === 0) {
      this.renderRange(Math.max(this.dataStart, this.dataEnd - domLimit), this.dataEnd);
      this.scrollToBottom();
    } else if (start < oldStart) this.onScroll();
    else if (end > oldEnd) this.onScroll();
    this.trimData();
  }

  /** A message added or changed. */
  message(total: number, message: ViewMessage): void {
    this.total = total;
    const i = message.index - this.dataStart;
    if (i >= 0 && i < this.data.length) {
      this.data[i] = message;
      const view = this.views.get(message.id);
      if (view) this.keepBottom(() => view.update(message));
      this.placeDivider();
      return;
    }
    if (i !== this.data.length) return; // not next to the loaded messages: fetched when scrolled to
    this.data.push(message);
    if (this.domEnd === message.index && (this.following || this.views.size === 0)) {
      if (this.views.size === 0) this.root.replaceChildren();
      this.root.append(this.createView(message).article);
      this.domEnd++;
      while (this.domEnd - this.domStart > domLimit) this.dropFirst(false);
      this.placeDivider();
      this.scrollToBottom();
    }
    this.trimData();
  }

  /** Streamed text of a message. */
  token(messageId: string, delta: string): void {
    for (let i = this.data.length - 1; i >= 0 && i >= this.data.length - 8; i--) {
      const message = this.data[i]!;
      if (message.id !== messageId) continue;
      message.text += delta;
      const view = this.views.get(messageId);
      if (view) this.scheduleText(view);
      return;
    }
  }

  setWindow(window: ViewWindow | undefined): void {
    this.window = window;
    this.keepBottom(() => {
      for (const view of this.views.values()) view.setWindow(this.mark(view.message));
      this.placeDivider();
    });
  }

  /** Brings the message at `index` into view (loading it first if needed); marks it when `id` is given. */
  reveal(index: number, id?: string): void {
    this.target = { index, ...(id !== undefined ? { id } : {}) };
    if (this.has(index)) this.showAround(index, id);
    else this.request(Math.max(0, index - pageSize / 2), pageSize);
  }

  /** The index of the first message visible at the top of the transcript. */
  topIndex(): number {
    const top = this.root.getBoundingClientRect().top;
    for (let index = this.domStart; index < this.domEnd; index++) {
      const view = this.views.get(this.data[index - this.dataStart]?.id ?? "");
      if (view && view.article.getBoundingClientRect().bottom > top) return index;
    }
    return this.domStart;
  }

  /** Messages in the DOM (for tests and the benchmark). */
  get rendered(): number {
    return this.views.size;
  }

  private get dataEnd(): number {
    return this.dataStart + this.data.length;
  }

  private has(index: number): boolean {
    return index >= this.dataStart && index < this.dataEnd;
  }

  private mark(message: ViewMessage): WindowMark {
    const window = this.window;
    if (!window) return { outside: false, partial: false, pinnedInSink: false };
    return {
      outside: outsideAt(window, message.index, message.id),
      partial: window.partial.includes(message.id),
      pinnedInSink: window.pinnedInSink.includes(message.id),
    };
  }

  private createView(message: ViewMessage): MessageView {
    const view = new MessageView(message, this.hooks);
    view.setWindow(this.mark(message));
    this.views.set(message.id, view);
    return view;
  }

  private clearDom(): void {
    this.views.clear();
    this.pendingText.clear();
    this.domStart = this.domEnd = this.dataStart;
    this.root.replaceChildren();
  }

  private renderRange(start: number, end: number): void {
    this.clearDom();
    this.domStart = start;
    this.domEnd = end;
    const articles = this.data.slice(start - this.dataStart, end - this.dataStart).map((message) => this.createView(message).article);
    this.root.replaceChildren(...articles);
    this.placeDivider();
  }

  private showAround(index: number, id?: string): void {
    this.target = undefined;
    const start = Math.max(this.dataStart, Math.min(index - domLimit / 2, this.dataEnd - domLimit));
    this.renderRange(start, Math.min(this.dataEnd, start + domLimit));
    this.following = false;
    const view = this.views.get(this.data[index - this.dataStart]?.id ?? "");
    for (const marked of Array.from(this.root.querySelectorAll(".message.target"))) marked.classList.remove("target");
    if (!view) return;
    if (id !== undefined) view.article.classList.add("target");
    view.article.scrollIntoView({ block: "center" });
  }

  private onScroll(): void {
    const root = this.root;
    this.following = this.nearBottom();
    // Following the conversation at the bottom: the newest stay (a short transcript never loads older ones by itself).
    if (root.scrollTop < edge && !this.following) this.extendUp();
    else if (root.scrollHeight - root.scrollTop - root.clientHeight < edge) this.extendDown();
  }

  private extendUp(): void {
    if (this.views.size === 0) return;
    if (this.domStart === this.dataStart) {
      if (this.dataStart > 0) this.request(Math.max(0, this.dataStart - pageSize), Math.min(pageSize, this.dataStart));
      return;
    }
    const count = Math.min(step, this.domStart - this.dataStart);
    const added = this.data.slice(this.domStart - count - this.dataStart, this.domStart - this.dataStart).map((m) => this.createView(m).article);
    const before = this.root.scrollHeight;
    this.root.prepend(...added);
    this.root.scrollTop += this.root.scrollHeight - before;
    this.domStart -= count;
    while (this.domEnd - this.domStart > domLimit) this.dropLast();
    this.placeDivider();
  }

  private extendDown(): void {
    if (this.views.size === 0) return;
    if (this.domEnd === this.dataEnd) {
      if (this.dataEnd < this.total) this.request(this.dataEnd, pageSize);
      return;
    }
    const count = Math.min(step, this.dataEnd - this.domEnd);
    const added = this.data.slice(this.domEnd - this.dataStart, this.domEnd + count - this.dataStart).map((m) => this.createView(m).article);
    this.root.append(...added);
    this.domEnd += count;
    while (this.domEnd - this.domStart > domLimit) this.dropFirst(true);
    this.placeDivider();
  }

  private dropFirst(keepPosition: boolean): void {
    const view = this.views.get(this.data[this.domStart - this.dataStart]?.id ?? "");
    this.domStart++;
    if (!view) return;
    const before = this.root.scrollHeight;
    view.article.remove();
    if (keepPosition) this.root.scrollTop -= before - this.root.scrollHeight;
    this.forget(view);
  }

  private dropLast(): void {
    this.domEnd--;
    const view = this.views.get(this.data[this.domEnd - this.dataStart]?.id ?? "");
    if (!view) return;
    view.article.remove();
    this.forget(view);
  }

  private forget(view: MessageView): void {
    this.views.delete(view.message.id);
    this.pendingText.delete(view);
  }

  /** Keeps at most dataLimit messages' data, dropping first what is farthest from the DOM. */
  private trimData(): void {
    const excess = this.data.length - dataLimit;
    if (excess <= 0) return;
    const margin = 2 * step;
    const front = Math.min(excess, Math.max(0, this.domStart - this.dataStart - margin));
    const back = Math.min(excess - front, Math.max(0, this.dataEnd - this.domEnd - margin));
    this.data.splice(0, front);
    this.dataStart += front;
    if (back > 0) this.data.splice(this.data.length - back, back);
  }

  private request(start: number, count: number): void {
    const key = `${start}:${count}`;
    if (this.requested === key) return;
    this.requested = key;
    this.hooks.post({ type: "page", chatId: this.chatId, start, count } satisfies FromWebview);
  }

  /** The divider goes after the newest rendered message that is outside the window (not after the last message). */
  private placeDivider(): void {
    let after: MessageView | undefined;
    for (let index = this.domEnd - 1; index >= this.domStart; index--) {
      const view = this.views.get(this.data[index - this.dataStart]?.id ?? "");
      if (view && view.article.classList.contains("outside")) {
        after = view;
        break;
      }
    }
    if (!after || after.message.index >= this.total - 1) {
      this.divider.remove();
      return;
    }
    const window = this.window;
    const label = document.createElement("span");
    const pinned = (window?.pinnedInSink.length ?? 0) + (window?.pinnedPending.length ?? 0) > 0;
    label.append(icon("arrow-up"), document.createTextNode(pinned ? "Above: outside the model's window, except pinned" : "Above: outside the model's window"));
    this.divider.replaceChildren(label);
    after.article.after(this.divider);
  }

  private scheduleText(view: MessageView): void {
    this.pendingText.add(view);
    if (this.frame !== 0) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const stick = this.following;
      for (const pending of this.pendingText) pending.renderText();
      this.pendingText.clear();
      if (stick) this.scrollToBottom();
    });
  }

  /** Runs a change that may alter heights; a user following the conversation stays at the bottom. */
  private keepBottom(change: () => void): void {
    const stick = this.following;
    change();
    if (stick) this.scrollToBottom();
  }

  private nearBottom(): boolean {
    return this.root.scrollHeight - this.root.scrollTop - this.root.clientHeight < 80;
  }

  private scrollToBottom(): void {
    this.root.scrollTop = this.root.scrollHeight;
    this.following = true;
  }
}
