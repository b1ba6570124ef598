// The chat webview's script (bundled by esbuild into media/dist/chat.js). It renders the state the
// extension posts, streams tokens into the current answer, and posts typed messages back. It posts
// `ready` first; the extension posts nothing before that. Everything received is validated.
import { parseToWebview, type FromWebview, type ViewMessage, type ViewState } from "../../common/chatMessages";
import type { ChatWindowState } from "../../common/protocol";
import { renderMarkdown, renderPlain } from "./render";

interface VsCodeApi {
  postMessage(message: FromWebview): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const post = (message: FromWebview) => vscode.postMessage(message);

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the chat view.`);
  return element as T;
}

const transcript = byId<HTMLElement>("transcript");
const input = byId<HTMLTextAreaElement>("input");
const sendButton = byId<HTMLButtonElement>("send");
const titleElement = byId<HTMLElement>("title");
const historyPanel = byId<HTMLElement>("history-panel");
const banner = byId<HTMLElement>("banner");
const meter = byId<HTMLElement>("meter");
const attachmentsElement = byId<HTMLElement>("attachments");
const noticeElement = byId<HTMLElement>("notice");

let state: ViewState | undefined;
let window_: ChatWindowState | undefined;
const bodies = new Map<string, HTMLElement>();
let pendingRender = new Set<string>();
let frame = 0;

const saved = vscode.getState() as { draft?: string } | undefined;
if (saved?.draft) input.value = saved.draft;

function icon(name: string): HTMLSpanElement {
  const span = document.createElement("span");
  span.className = `codicon codicon-${name}`;
  span.setAttribute("aria-hidden", "true");
  return span;
}

function iconButton(name: string, label: string, onClick: () => void, extra = ""): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `icon-button ${extra}`.trim();
  button.title = label;
  button.setAttribute("aria-label", label);
  button.append(icon(name));
  button.addEventListener("click", onClick);
  return button;
}

const codeActions = {
  copy: (text: string) => post({ type: "copy", text }),
  insert: (text: string) => post({ type: "insert", text }),
};

function nearBottom(): boolean {
  return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
}

function scrollToBottom(): void {
  transcript.scrollTop = transcript.scrollHeight;
}

function fillBody(body: HTMLElement, message: ViewMessage): void {
  body.replaceChildren(
    message.role === "assistant" ? renderMarkdown(message.text, document, codeActions) : renderPlain(message.text),
  );
  if (message.role === "assistant" && message.status === "streaming") {
    const cursor = document.createElement("span");
    cursor.className = "cursor";
    (body.lastElementChild ?? body).append(cursor);
  }
}

function messageElement(message: ViewMessage, windowState: ChatWindowState | undefined): HTMLElement {
  const article = document.createElement("article");
  article.className = `message ${message.role}`;
  article.dataset.id = message.id;
  const outside = windowState?.outside.includes(message.id) ?? false;
  const partial = windowState?.partial.includes(message.id) ?? false;
  const pinnedInSink = windowState?.pinnedInSink.includes(message.id) ?? false;
  if (outside) article.classList.add("outside");
  if (partial) article.classList.add("partial");
  if (message.pinned) article.classList.add("pinned");

  const header = document.createElement("header");
  header.className = "message-header";
  const who = document.createElement("span");
  who.className = "author";
  who.append(icon(message.role === "user" ? "account" : "sparkle"), document.createTextNode(message.role === "user" ? "You" : (state?.server.modelName ?? "StreamSink")));
  header.append(who);
  if (message.pinned) {
    const badge = document.createElement("span");
    badge.className = "badge pin-badge";
    badge.title = pinnedInSink
      ? "Pinned: held in the sink region, never evicted."
      : "Pinned: joins the sink region when the window reaches it.";
    badge.append(icon("pinned"), document.createTextNode(pinnedInSink ? "in sink" : "pinned"));
    header.append(badge);
  }
  if (outside || partial) {
    const badge = document.createElement("span");
    badge.className = "badge window-badge";
    badge.title = outside
      ? "The model can no longer see this message: it left the KV window."
      : "The beginning of this message has left the model's window.";
    badge.append(icon("eye-closed"), document.createTextNode(outside ? "not seen" : "partly seen"));
    header.append(badge);
  }
  const actions = document.createElement("span");
  actions.className = "message-actions";
  if (message.status !== "streaming") {
    actions.append(
      iconButton(message.pinned ? "pinned" : "pin", message.pinned ? "Unpin" : "Pin: keep this message in the model's view", () =>
        post({ type: "pin", messageId: message.id, pinned: !message.pinned }),
      ),
    );
  }
  if (message.role === "assistant" && message.text !== "") {
    actions.append(iconButton("copy", "Copy message", () => post({ type: "copy", text: message.text })));
  }
  header.append(actions);
  article.append(header);

  if (message.attachments.length > 0) {
    const list = document.createElement("div");
    list.className = "attachment-list";
    for (const name of message.attachments) {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.append(icon("file-code"), document.createTextNode(name));
      list.append(chip);
    }
    article.append(list);
  }

  const body = document.createElement("div");
  body.className = "message-body";
  fillBody(body, message);
  bodies.set(message.id, body);
  article.append(body);

  if (message.status === "cancelled") {
    const note = document.createElement("div");
    note.className = "message-note";
    note.append(icon("debug-stop"), document.createTextNode("Stopped"));
    article.append(note);
  } else if (message.status === "error") {
    const note = document.createElement("div");
    note.className = "message-note error";
    note.append(icon("error"), document.createTextNode(message.error ?? "The answer failed."));
    article.append(note);
  } else if (message.role === "assistant" && message.status === "done" && message.text.trim() === "") {
    // A sampled answer can end at once (the model's end-of-turn first): say so instead of an empty bubble.
    const note = document.createElement("div");
    note.className = "message-note";
    note.append(icon("info"), document.createTextNode("The model ended its answer without any text. Send again or rephrase."));
    article.append(note);
  }
  return article;
}

function renderEmpty(): HTMLElement {
  const empty = document.createElement("div");
  empty.className = "empty";
  const logo = icon("comment-discussion");
  logo.classList.add("empty-icon");
  const heading = document.createElement("h2");
  heading.textContent = "Chat with your local model";
  const lines = [
    ["keyboard", "Enter sends, Shift+Enter adds a line, Escape stops the answer."],
    ["list-selection", "Add the selection or the current file to your message with the buttons below."],
    ["history", "The conversation never runs out of context: old messages leave the model's window and are dimmed."],
    ["pin", "Pin a message to keep it in view for the whole chat."],
  ];
  const list = document.createElement("ul");
  for (const [name, text] of lines) {
    const item = document.createElement("li");
    item.append(icon(name!), document.createTextNode(text!));
    list.append(item);
  }
  empty.append(logo, heading, list);
  return empty;
}

function renderTranscript(): void {
  if (!state) return;
  const stick = nearBottom();
  bodies.clear();
  const nodes: HTMLElement[] = [];
  if (state.messages.length === 0) nodes.push(renderEmpty());
  const outside = new Set(window_?.outside ?? []);
  let lastOutside = -1;
  state.messages.forEach((message, index) => {
    if (outside.has(message.id)) lastOutside = index;
  });
  state.messages.forEach((message, index) => {
    nodes.push(messageElement(message, window_));
    if (index === lastOutside && index < state!.messages.length - 1) {
      const divider = document.createElement("div");
      divider.className = "window-divider";
      divider.setAttribute("role", "separator");
      const label = document.createElement("span");
      const pinnedAbove = state!.messages.slice(0, index + 1).some((m) => m.pinned && !outside.has(m.id));
      label.append(
        icon("arrow-up"),
        document.createTextNode(pinnedAbove ? "Above: outside the model's window, except pinned" : "Above: outside the model's window"),
      );
      divider.append(label);
      nodes.push(divider);
    }
  });
  transcript.replaceChildren(...nodes);
  if (stick) scrollToBottom();
}

function renderMeter(): void {
  meter.replaceChildren();
  const w = window_;
  if (!w || !state || w.chatId !== state.chatId) {
    meter.hidden = true;
    return;
  }
  meter.hidden = false;
  const bar = document.createElement("div");
  bar.className = "meter-bar";
  const fill = document.createElement("div");
  fill.className = "meter-fill";
  fill.style.width = `${Math.min(100, (100 * w.kvCells) / Math.max(1, w.contextSize))}%`;
  const sink = document.createElement("div");
  sink.className = "meter-sink";
  sink.style.width = `${Math.min(100, (100 * (w.templateSinks + w.pinnedTokens)) / Math.max(1, w.contextSize))}%`;
  bar.append(fill, sink);
  const text = document.createElement("div");
  text.className = "meter-text";
  const parts = [
    `${w.kvCells} / ${w.contextSize} tokens in view`,
    `${w.shifts} shift${w.shifts === 1 ? "" : "s"}`,
    w.outside.length > 0 ? `${w.outside.length} message${w.outside.length === 1 ? "" : "s"} out of view` : "",
    `pinned ${w.pinnedTokens} / ${w.pinBudget}`,
  ].filter((part) => part !== "");
  text.textContent = parts.join(" · ");
  text.title =
    "KV cache of this chat: the first tokens (template + pinned messages) are attention sinks and stay; " +
    "when the window is full the oldest tokens are evicted and the rest shifted in place.";
  meter.append(bar, text);
}

function renderAttachments(): void {
  attachmentsElement.replaceChildren();
  (state?.attachments ?? []).forEach((name, index) => {
    const chip = document.createElement("span");
    chip.className = "chip removable";
    chip.append(icon("file-code"), document.createTextNode(name));
    chip.append(iconButton("close", `Remove ${name}`, () => post({ type: "removeAttachment", index }), "chip-remove"));
    attachmentsElement.append(chip);
  });
  attachmentsElement.hidden = (state?.attachments.length ?? 0) === 0;
}

function renderHistory(): void {
  historyPanel.replaceChildren();
  const heading = document.createElement("div");
  heading.className = "history-heading";
  heading.textContent = "Chats";
  historyPanel.append(heading);
  for (const chat of state?.chats ?? []) {
    const row = document.createElement("div");
    row.className = `history-item${chat.id === state?.chatId ? " current" : ""}`;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "history-open";
    const title = document.createElement("span");
    title.className = "history-title";
    title.textContent = chat.title;
    const meta = document.createElement("span");
    meta.className = "history-meta";
    meta.textContent = `${new Date(chat.updatedAt).toLocaleString()} · ${chat.messageCount} messages`;
    open.append(icon("comment"), title, meta);
    open.addEventListener("click", () => {
      historyPanel.hidden = true;
      post({ type: "openChat", chatId: chat.id });
    });
    row.append(open, iconButton("trash", `Delete “${chat.title}”`, () => post({ type: "deleteChat", chatId: chat.id })));
    historyPanel.append(row);
  }
  if ((state?.chats.length ?? 0) === 0) {
    const none = document.createElement("div");
    none.className = "history-empty";
    none.textContent = "No saved chats yet.";
    historyPanel.append(none);
  }
}

function renderChrome(): void {
  if (!state) return;
  titleElement.textContent = state.title;
  const streaming = state.streamingId !== undefined;
  sendButton.replaceChildren(icon(streaming ? "debug-stop" : "send"));
  sendButton.title = streaming ? "Stop (Escape)" : "Send (Enter)";
  sendButton.setAttribute("aria-label", sendButton.title);
  sendButton.classList.toggle("stop", streaming);
  const ready = state.server.state === "ready";
  banner.hidden = ready;
  if (!ready) {
    banner.replaceChildren(
      icon(state.server.state === "error" || state.server.state === "noModel" ? "warning" : "loading"),
      document.createTextNode(state.server.message),
    );
    if (state.server.state === "noModel" || state.server.state === "error") {
      const settings = document.createElement("button");
      settings.type = "button";
      settings.className = "link-button";
      settings.textContent = "Open Settings";
      settings.addEventListener("click", () => post({ type: "openSettings" }));
      banner.append(settings);
    }
    banner.classList.toggle("spin", state.server.state === "loading" || state.server.state === "starting");
  }
}

function scheduleBody(id: string): void {
  pendingRender.add(id);
  if (frame !== 0) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const ids = pendingRender;
    pendingRender = new Set();
    const stick = nearBottom();
    for (const messageId of ids) {
      const message = state?.messages.find((m) => m.id === messageId);
      const body = bodies.get(messageId);
      if (message && body) fillBody(body, message);
    }
    if (stick) scrollToBottom();
  });
}

function showNotice(level: "info" | "error", text: string): void {
  noticeElement.replaceChildren(icon(level === "error" ? "error" : "info"), document.createTextNode(text));
  noticeElement.className = `notice ${level}`;
  noticeElement.hidden = false;
  noticeElement.append(iconButton("close", "Dismiss", () => (noticeElement.hidden = true)));
}

window.addEventListener("message", (event: MessageEvent) => {
  const message = parseToWebview(event.data);
  if (!message) return;
  switch (message.type) {
    case "state":
      state = message.state;
      window_ = message.state.window ?? (window_?.chatId === message.state.chatId ? window_ : undefined);
      renderChrome();
      renderTranscript();
      renderMeter();
      renderAttachments();
      renderHistory();
      break;
    case "token": {
      if (!state || message.chatId !== state.chatId) break;
      const target = state.messages.find((m) => m.id === message.messageId);
      if (!target) break;
      target.text += message.delta;
      scheduleBody(target.id);
      break;
    }
    case "window":
      if (state && message.window.chatId === state.chatId) {
        window_ = message.window;
        renderTranscript();
        renderMeter();
      }
      break;
    case "notice":
      showNotice(message.level, message.text);
      break;
  }
});

function submit(): void {
  if (state?.streamingId !== undefined) {
    post({ type: "stop" });
    return;
  }
  const text = input.value;
  if (text.trim() === "") return;
  post({ type: "send", text });
  input.value = "";
  vscode.setState({ draft: "" });
  autosize();
}

function autosize(): void {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 220)}px`;
}

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
input.addEventListener("input", () => {
  autosize();
  vscode.setState({ draft: input.value });
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    if (state?.streamingId !== undefined) {
      event.preventDefault();
      post({ type: "stop" });
    } else if (!historyPanel.hidden) historyPanel.hidden = true;
  }
});
sendButton.addEventListener("click", submit);
byId("history").addEventListener("click", () => {
  historyPanel.hidden = !historyPanel.hidden;
});
byId("attach-selection").addEventListener("click", () => post({ type: "attach", what: "selection" }));
byId("attach-file").addEventListener("click", () => post({ type: "attach", what: "file" }));

autosize();
post({ type: "ready" });
