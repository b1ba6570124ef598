// The chat webview's script (bundled by esbuild into media/dist/chat.js). It shows the chrome the
// extension posts (state), a windowed transcript fed by pages and deltas (transcript.ts), streams
// tokens into the current answer, and posts typed messages back. It posts `ready` first; the
// extension posts nothing before that. Everything received is validated.
import { parseToWebview, type FromWebview, type ViewState } from "../../../common/chatMessages";
import { byId, vscodeApi } from "../host";
import { icon, iconButton } from "./dom";
import { renderMeter } from "./meter";
import { SearchBar } from "./search";
import { Transcript } from "./transcript";

const vscode = vscodeApi<FromWebview>();
const post = (message: FromWebview) => vscode.postMessage(message);

const transcriptElement = byId<HTMLElement>("transcript");
const jumpPinned = byId<HTMLButtonElement>("jump-pinned");
const input = byId<HTMLTextAreaElement>("input");
const sendButton = byId<HTMLButtonElement>("send");
const titleElement = byId<HTMLElement>("title");
const historyPanel = byId<HTMLElement>("history-panel");
const banner = byId<HTMLElement>("banner");
const meter = byId<HTMLElement>("meter");
const attachmentsElement = byId<HTMLElement>("attachments");
const noticeElement = byId<HTMLElement>("notice");

let state: ViewState | undefined;

const saved = vscode.getState() as { draft?: string } | undefined;
if (saved?.draft) input.value = saved.draft;

const codeActions = {
  copy: (text: string) => post({ type: "copy", text }),
  insert: (text: string) => post({ type: "insert", text }),
};

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

const transcript = new Transcript(transcriptElement, { post, actions: codeActions, emptyView: renderEmpty });
const search = new SearchBar(byId("search"), () => transcript.chat, post, (hit) => transcript.reveal(hit.index, hit.id));

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
    banner.classList.toggle("error", state.server.state === "error");
  }
  jumpPinned.hidden = state.pinned.length === 0;
}

/** Brings the newest pinned message above the top of the view into view (then the one before, and round). */
function jumpToPinned(): void {
  const pinned = state?.pinned ?? [];
  if (pinned.length === 0) return;
  const top = transcript.topIndex();
  const target = pinned.filter((ref) => ref.index < top).at(-1) ?? pinned.at(-1)!;
  transcript.reveal(target.index, target.id);
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
      transcript.show(state.chatId, state.total);
      transcript.setWindow(state.window);
      renderChrome();
      renderMeter(meter, state);
      renderAttachments();
      renderHistory();
      break;
    case "page":
      if (message.chatId === transcript.chat) transcript.page(message.start, message.total, message.messages);
      break;
    case "message":
      if (message.chatId === transcript.chat) transcript.message(message.total, message.message);
      break;
    case "token":
      if (message.chatId === transcript.chat) transcript.token(message.messageId, message.delta);
      break;
    case "window":
      if (state && message.window.chatId === state.chatId) {
        state.window = message.window;
        transcript.setWindow(message.window);
        renderMeter(meter, state);
      }
      break;
    case "searchResults":
      search.results(message.chatId, message.query, message.hits, message.more);
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
  if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "f") {
    event.preventDefault();
    search.show();
    return;
  }
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
jumpPinned.addEventListener("click", jumpToPinned);
byId("search-open").addEventListener("click", () => (search.open ? search.close() : search.show()));
byId("attach-selection").addEventListener("click", () => post({ type: "attach", what: "selection" }));
byId("attach-file").addEventListener("click", () => post({ type: "attach", what: "file" }));

autosize();
post({ type: "ready" });
