// One message of the transcript as DOM: built once, then patched — the header when its pin or
// status changes, the window classes and badge when the window moves, the body block by block.
import type { FromWebview, ViewMessage } from "../../../common/chatMessages";
import { BodyRenderer } from "./blocks";
import { icon, iconButton } from "./dom";
import { renderPlain, type CodeActions } from "./render";

export interface MessageHooks {
  post(message: FromWebview): void;
  actions: CodeActions;
}

export interface WindowMark {
  outside: boolean;
  partial: boolean;
  pinnedInSink: boolean;
}

const cancelNotes: Record<string, string> = {
  stop: "Stopped",
  settingsChanged: "Cancelled: settings changed",
  modelChanged: "Cancelled: model changed",
  reset: "Cancelled: the chat was reset",
  serverRestarted: "Cancelled: server restarted",
  reload: "Cancelled: VS Code closed or reloaded the window",
};

export class MessageView {
  readonly article: HTMLElement;
  private readonly header: HTMLElement;
  private readonly bodyElement: HTMLElement;
  private readonly body: BodyRenderer | undefined;
  private note: HTMLElement | undefined;
  private mark: WindowMark = { outside: false, partial: false, pinnedInSink: false };
  private shownText: string | undefined;
  private shownStreaming = false;

  constructor(
    public message: ViewMessage,
    private readonly hooks: MessageHooks,
  ) {
    const doc = document;
    this.article = doc.createElement("article");
    this.article.className = `message ${message.role}`;
    this.article.dataset.id = message.id;
    this.article.dataset.index = String(message.index);
    this.header = doc.createElement("header");
    this.header.className = "message-header";
    this.article.append(this.header);
    if (message.attachments.length > 0) {
      const list = doc.createElement("div");
      list.className = "attachment-list";
      for (const name of message.attachments) {
        const chip = doc.createElement("span");
        chip.className = "chip";
        chip.append(icon("file-code"), doc.createTextNode(name));
        list.append(chip);
      }
      this.article.append(list);
    }
    this.bodyElement = doc.createElement("div");
    this.bodyElement.className = "message-body";
    this.article.append(this.bodyElement);
    if (message.role === "assistant") this.body = new BodyRenderer(this.bodyElement, hooks.actions);
    this.update(message);
  }

  /** Shows `message` (same id): patches what changed. */
  update(message: ViewMessage): void {
    this.message = message;
    this.article.classList.toggle("pinned", message.pinned);
    this.renderHeader();
    this.renderText();
    this.renderNote();
  }

  /** Streamed text arrived (already appended to `message.text`). */
  renderText(): void {
    const message = this.message;
    const streaming = message.status === "streaming";
    if (message.text === this.shownText && streaming === this.shownStreaming) return;
    if (this.body) this.body.update(message.text, streaming);
    else this.bodyElement.replaceChildren(renderPlain(message.text));
    this.shownText = message.text;
    this.shownStreaming = streaming;
  }

  setWindow(mark: WindowMark): void {
    if (mark.outside === this.mark.outside && mark.partial === this.mark.partial && mark.pinnedInSink === this.mark.pinnedInSink) return;
    this.mark = mark;
    this.article.classList.toggle("outside", mark.outside);
    this.article.classList.toggle("partial", mark.partial);
    this.renderHeader();
  }

  private renderHeader(): void {
    const { message, mark } = this;
    const doc = document;
    const who = doc.createElement("span");
    who.className = "author";
    who.append(icon(message.role === "user" ? "account" : "sparkle"), doc.createTextNode(message.role === "user" ? "You" : (message.model ?? "StreamSink")));
    const parts: HTMLElement[] = [who];
    if (message.pinned) {
      const badge = doc.createElement("span");
      badge.className = "badge pin-badge";
      badge.title = mark.pinnedInSink ? "Pinned: held in the sink region, never evicted." : "Pinned: joins the sink region when the window reaches it.";
      badge.append(icon("pinned"), doc.createTextNode(mark.pinnedInSink ? "in sink" : "pinned"));
      parts.push(badge);
    }
    if (mark.outside || mark.partial) {
      const badge = doc.createElement("span");
      badge.className = "badge window-badge";
      badge.title = mark.outside
        ? "The model can no longer see this message: it left the KV window."
        : "The beginning of this message has left the model's window.";
      badge.append(icon("eye-closed"), doc.createTextNode(mark.outside ? "not seen" : "partly seen"));
      parts.push(badge);
    }
    const actions = doc.createElement("span");
    actions.className = "message-actions";
    if (message.status !== "streaming") {
      actions.append(
        iconButton(message.pinned ? "pinned" : "pin", message.pinned ? "Unpin" : "Pin: keep this message in the model's view", () =>
          this.hooks.post({ type: "pin", messageId: message.id, pinned: !message.pinned }),
        ),
      );
    }
    if (message.role === "assistant" && message.text !== "") {
      actions.append(iconButton("copy", "Copy message", () => this.hooks.post({ type: "copy", text: this.message.text })));
    }
    parts.push(actions);
    this.header.replaceChildren(...parts);
  }

  private renderNote(): void {
    const message = this.message;
    let note: [string, string, boolean] | undefined;
    if (message.status === "cancelled") note = ["debug-stop", cancelNotes[message.cancelReason ?? "stop"] ?? "Stopped", false];
    else if (message.status === "error") note = ["error", message.error ?? "The answer failed.", true];
    else if (message.role === "assistant" && message.status === "done" && this.looksEmpty()) {
      // An answer that ended at once, or with only blank lines and Markdown marks: say so instead of an empty bubble.
      note = ["info", "The model ended its answer without any text. Send again or rephrase.", false];
    }
    this.note?.remove();
    this.note = undefined;
    if (!note) return;
    const element = document.createElement("div");
    element.className = note[2] ? "message-note error" : "message-note";
    element.append(icon(note[0]), document.createTextNode(note[1]));
    this.article.append(element);
    this.note = element;
  }

  private looksEmpty(): boolean {
    if (this.message.text.trim() === "") return true;
    return (this.bodyElement.textContent ?? "").trim() === "" && this.bodyElement.querySelector(".code-block, hr, table") === null;
  }
}
