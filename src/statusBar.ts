// The status-bar item: what the server is doing (loading with progress, ready, error) and the model.
import * as vscode from "vscode";
import type { ServerStatus } from "../common/protocol";

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private status: ServerStatus = { state: "starting", message: "Starting StreamSink server…" };
  private detail: string | undefined;
  private detailTooltip: string | undefined;

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

  /**
   * Extra text after the model name while ready: the KV fill of every sequence, each named
   * ("chat 253/256 · compl 120/512"), with a longer form for the tooltip.
   */
  setDetail(detail: string | undefined, tooltip?: string): void {
    this.detail = detail;
    this.detailTooltip = tooltip;
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
    if (state === "ready" && this.status.warning) {
      tooltip.appendMarkdown("\n\n$(warning) ");
      tooltip.appendText(this.status.warning);
    }
    if (state === "ready" && this.detailTooltip) {
      tooltip.appendMarkdown("\n\n**KV cache fill**");
      for (const line of this.detailTooltip.split("\n")) {
        tooltip.appendMarkdown("\n\n");
        tooltip.appendText(line);
      }
    }
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
