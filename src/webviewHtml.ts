// What every StreamSink webview page shares: a fresh nonce and a strict Content Security Policy
// (default-src 'none'; styles, fonts and images only from the extension's media/ folder; scripts
// only with the nonce).
import { randomBytes } from "node:crypto";
import type * as vscode from "vscode";

export function newNonce(): string {
  return randomBytes(18).toString("base64");
}

export function contentSecurityPolicy(webview: vscode.Webview, nonce: string): string {
  return [
    "default-src 'none'",
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `img-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join("; ");
}
