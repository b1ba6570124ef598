// The status-bar item: what the server is doing (loading with progress, ready, error) and the model.
import * as vscode from "vscode";
import type { ServerStatus } from "../common/protocol";

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private status: ServerStatus = { state: "starting", message: "Starting StreamSink server…" };
  private detail: string | undefined;

  constructor() {
    this.item = vscode.window.createStatusBarItem("streamsink.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "StreamSink";
    this.item.command = "streamsink.showDiagnostics";
    this.render();
    this.item.show();
  }

  get current(): ServerStatus {
    return this.status;
  }

  update(status: ServerStatus): void {
    this.status = status;
    this.render();
  }

  /** Extra text after the model name while ready (e.g. KV fill). */
  setDetail(detail: string | undefined): void {
    this.detail = detail;
    this.render();
  }

  dispose(): void {
    this.item.dispose();
  }

  private render(): void {
    const { state, message, modelName, backend, progress } = this.status;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**StreamSink** — ${state}\n\n`);
    tooltip.appendText(message);
    this.item.backgroundColor = undefined;
    switch (state) {
      case "starting":
        this.item.text = "$(loading~spin) StreamSink";
        break;
      case "loading": {
        const percent = progress === undefined ? "" : ` ${Math.round(progress * 100)}%`;
        this.item.text = `$(loading~spin) StreamSink: ${modelName ?? "model"}${percent}`;
        break;
      }
      case "ready":
        this.item.text = `$(hubot) ${modelName ?? "model"} · ${backend ?? "?"}${this.detail ? ` · ${this.detail}` : ""}`;
        break;
      case "noModel":
        this.item.text = "$(circle-slash) StreamSink: no model";
        this.item.backgroundColor = new vscode.ThemeColor("statusBarItem.warningBackground");
        break;
      case "error":
        this.item.text = "$(error) StreamSink";
        this.item.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
        break;
    }
    this.item.tooltip = tooltip;
    this.item.accessibilityInformation = { label: `StreamSink ${state}: ${message}` };
  }
}
