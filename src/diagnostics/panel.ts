// The "StreamSink: Cache Diagnostics" webview panel. It polls the server once a second, only while
// the panel is visible, and posts a ready-made view (common/diagnosticsView.ts) that the webview
// renders with DOM APIs (src/webview/diagnostics/, built into media/dist/diagnostics.js).
// CSP: default-src 'none', styles from media/, the one script by nonce.
import * as vscode from "vscode";
import {
  appendSample,
  buildView,
  parseWebviewMessage,
  type ChartSample,
  type PanelMessage,
} from "../../common/diagnosticsView";
import { DisposableStore } from "../../common/disposable";
import { DiagnosticsRequest, type DiagnosticsSnapshot } from "../../common/protocol";
import type { ServerConnection } from "../client";
import { log } from "../log";
import { contentSecurityPolicy, newNonce } from "../webviewHtml";
import { errorMessage } from "../../common/errors";

const pollMs = 1000;

/** Asks the running server for a snapshot; undefined with a reason when it is not running. */
export async function requestSnapshot(
  connection: ServerConnection,
): Promise<{ snapshot: DiagnosticsSnapshot } | { unavailable: string }> {
  const client = connection.running;
  if (!client) {
    return {
      unavailable: `The StreamSink server is not running (${connection.currentStatus.state}: ${connection.currentStatus.message}). Run “StreamSink: Restart Server”.`,
    };
  }
  try {
    return { snapshot: await client.sendRequest(DiagnosticsRequest.type, {}) };
  } catch (error) {
    return { unavailable: `The server did not answer: ${errorMessage(error)}` };
  }
}

export class DiagnosticsPanel implements vscode.Disposable {
  static readonly viewType = "streamsink.diagnostics";
  private static current: DiagnosticsPanel | undefined;

  private readonly disposables = new DisposableStore();
  private history: ChartSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ready = false;
  private inFlight = false;

  /** Opens the panel (or reveals the open one). */
  static show(extensionUri: vscode.Uri, connection: ServerConnection): DiagnosticsPanel {
    if (DiagnosticsPanel.current) {
      DiagnosticsPanel.current.panel.reveal();
      return DiagnosticsPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      DiagnosticsPanel.viewType,
      "StreamSink Cache Diagnostics",
      vscode.ViewColumn.Active,
      { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, "media")] },
    );
    DiagnosticsPanel.current = new DiagnosticsPanel(panel, extensionUri, connection);
    return DiagnosticsPanel.current;
  }

  static get isOpen(): boolean {
    return DiagnosticsPanel.current !== undefined;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly connection: ServerConnection,
  ) {
    panel.webview.html = html(panel.webview, extensionUri);
    this.disposables.add(vscode.Disposable.from(
      panel.onDidDispose(() => this.dispose()),
      panel.onDidChangeViewState(() => this.schedule()),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.onMessage(raw)),
      connection.onStatus(() => void this.refresh()),
    ));
  }

  dispose(): void {
    if (DiagnosticsPanel.current === this) DiagnosticsPanel.current = undefined;
    this.stop();
    this.disposables.dispose();
    this.panel.dispose();
  }

  private async onMessage(raw: unknown): Promise<void> {
    const message = parseWebviewMessage(raw);
    if (!message) {
      log.warn(`Diagnostics view sent an unknown message: ${JSON.stringify(raw)?.slice(0, 200)}`);
      return;
    }
    switch (message.type) {
      case "ready":
        this.ready = true;
        await this.refresh();
        this.schedule();
        break;
      case "copy":
        await vscode.commands.executeCommand("streamsink.copyDiagnostics");
        break;
      case "restartServer":
        await vscode.commands.executeCommand("streamsink.restartServer");
        break;
      case "resetCache":
        await vscode.commands.executeCommand(
          message.label === "chat" ? "streamsink.resetChatCache" : "streamsink.resetCompletionCache",
        );
        await this.refresh();
        break;
    }
  }

  /** Polls only while the panel is visible and the webview said it is ready. */
  private schedule(): void {
    if (this.ready && this.panel.visible) {
      this.timer ??= setInterval(() => void this.refresh(), pollMs);
    } else {
      this.stop();
    }
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async refresh(): Promise<void> {
    if (!this.ready || this.inFlight) return;
    this.inFlight = true;
    try {
      const result = await requestSnapshot(this.connection);
      let message: PanelMessage;
      if ("snapshot" in result) {
        this.history = appendSample(this.history, result.snapshot);
        message = { type: "view", view: buildView(result.snapshot, this.history) };
      } else {
        message = { type: "unavailable", message: result.unavailable };
      }
      await this.panel.webview.postMessage(message);
    } finally {
      this.inFlight = false;
    }
  }
}

function html(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = newNonce();
  const media = (...parts: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "media", ...parts));
  const csp = contentSecurityPolicy(webview, nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${media("diagnostics.css")}">
<title>StreamSink Cache Diagnostics</title>
</head>
<body>
<header>
  <h1 id="headline">StreamSink cache diagnostics</h1>
  <div class="actions">
    <button id="copy" type="button" title="Copy the diagnostics as JSON (for bug reports)">Copy JSON</button>
    <button id="restart" type="button" class="secondary" title="Restart the StreamSink server">Restart Server</button>
  </div>
</header>
<div id="notices" role="status" aria-live="polite"></div>
<section aria-labelledby="chart-title">
  <h2 id="chart-title">KV fill and tokens/s over time</h2>
  <div id="chart" class="chart"></div>
  <div id="legend" class="legend"></div>
</section>
<section aria-labelledby="sequences-title">
  <h2 id="sequences-title">Sequences</h2>
  <div id="sequences" class="cards"><p class="muted">Waiting for the server…</p></div>
</section>
<div class="columns">
  <section aria-labelledby="process-title"><h2 id="process-title">Process</h2><table id="process"></table></section>
  <section aria-labelledby="memory-title"><h2 id="memory-title">Memory guarantee</h2><table id="memory"></table></section>
  <section aria-labelledby="model-title"><h2 id="model-title">Model</h2><table id="model"></table></section>
</div>
<footer id="updated" class="muted"></footer>
<script nonce="${nonce}" src="${media("dist", "diagnostics.js")}"></script>
</body>
</html>`;
}
