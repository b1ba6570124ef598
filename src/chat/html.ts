// The chat view's HTML shell: a strict Content Security Policy (default-src 'none'; scripts only
// with a fresh nonce; styles and fonts only from the extension's media/ folder), no inline data.
// Everything shown is filled in by media/dist/chat.js (built from src/webview/chat/) from typed messages.
import type * as vscode from "vscode";
import { contentSecurityPolicy, newNonce } from "../webviewHtml";

export function chatHtml(webview: vscode.Webview, mediaRoot: vscode.Uri, joinPath: (base: vscode.Uri, ...parts: string[]) => vscode.Uri): string {
  const nonce = newNonce();
  const asset = (...parts: string[]) => webview.asWebviewUri(joinPath(mediaRoot, ...parts)).toString();
  const csp = contentSecurityPolicy(webview, nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset("dist", "codicons", "codicon.css")}">
<link rel="stylesheet" href="${asset("chat.css")}">
<title>StreamSink Chat</title>
</head>
<body>
<header class="toolbar">
  <button type="button" id="history" class="icon-button" title="Past chats" aria-label="Past chats"><span class="codicon codicon-history" aria-hidden="true"></span></button>
  <div id="title" class="title">New chat</div>
  <button type="button" id="jump-pinned" class="icon-button" title="Jump to pinned message" aria-label="Jump to pinned message" hidden><span class="codicon codicon-pinned" aria-hidden="true"></span></button>
  <button type="button" id="search-open" class="icon-button" title="Search this chat (Ctrl+F)" aria-label="Search this chat (Ctrl+F)"><span class="codicon codicon-search" aria-hidden="true"></span></button>
</header>
<nav id="history-panel" class="history-panel" hidden></nav>
<div id="banner" class="banner" role="status" hidden></div>
<div id="notice" class="notice" role="alert" hidden></div>
<div id="search" class="search-bar" role="search" hidden></div>
<main id="transcript" class="transcript" aria-live="polite"></main>
<footer class="composer-area">
  <div id="meter" class="meter" hidden></div>
  <div id="attachments" class="attachments" hidden></div>
  <div class="composer">
    <textarea id="input" rows="1" placeholder="Ask about your code (Enter to send, Shift+Enter for a new line)" aria-label="Message"></textarea>
    <div class="composer-actions">
      <button type="button" id="attach-selection" class="icon-button" title="Add the editor selection" aria-label="Add the editor selection"><span class="codicon codicon-list-selection" aria-hidden="true"></span></button>
      <button type="button" id="attach-file" class="icon-button" title="Add the current file" aria-label="Add the current file"><span class="codicon codicon-file-add" aria-hidden="true"></span></button>
      <span class="spacer"></span>
      <button type="button" id="send" class="send-button" title="Send (Enter)" aria-label="Send (Enter)"><span class="codicon codicon-send" aria-hidden="true"></span></button>
    </div>
  </div>
</footer>
<script nonce="${nonce}" src="${asset("dist", "chat.js")}"></script>
</body>
</html>`;
}
