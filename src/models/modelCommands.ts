// "StreamSink: Select Model" and "StreamSink: Download Model" (registered in ./index.ts). Downloads
// run in the server (it has node-llama-cpp); this side shows a cancellable progress notification,
// then points streamsink.model.path at the verified file in the extension's global storage.
import { randomUUID } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import * as vscode from "vscode";
import { isSha256, ModelUriError, parseModelAddress } from "../../common/modelUri";
import {
  DownloadModelRequest,
  type DownloadModelResult,
  type DownloadProgress,
} from "../../common/protocol";
import { formatBytes } from "../../common/diagnosticsView";
import type { ServerConnection } from "../client";
import { section } from "../config";
import { log } from "../log";
import { redactText, redactUrl, secretsOf } from "../../common/redact";
import { errorMessage } from "../../common/errors";

export interface RecommendedModel {
  label: string;
  uri: string;
  description: string;
  detail: string;
}

/** A short list of instruct code models that run well with llama.cpp (single-file Q4_K_M GGUFs). */
export const recommendedModels: readonly RecommendedModel[] = [
  {
    label: "Qwen2.5-Coder 1.5B Instruct (Q4_K_M)",
    uri: "hf:bartowski/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M",
    description: "about 1 GB · fast on any machine",
    detail: "Good default for inline completions and quick chat; FIM-capable.",
  },
  {
    label: "Qwen2.5-Coder 7B Instruct (Q4_K_M)",
    uri: "hf:bartowski/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M",
    description: "about 4.7 GB · needs a GPU or a fast CPU",
    detail: "Much better code and chat; FIM-capable.",
  },
  {
    label: "Llama 3.2 3B Instruct (Q4_K_M)",
    uri: "hf:bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
    description: "about 2 GB · general chat",
    detail: "General-purpose assistant; no FIM tokens (completions continue text only).",
  },
];

/** Routes the server's download progress notifications to the download that asked for them. */
export class DownloadProgressRouter {
  private readonly listeners = new Map<string, (progress: DownloadProgress) => void>();

  listen(downloadId: string, listener: (progress: DownloadProgress) => void): vscode.Disposable {
    this.listeners.set(downloadId, listener);
    return new vscode.Disposable(() => this.listeners.delete(downloadId));
  }

  dispatch(progress: DownloadProgress): void {
    this.listeners.get(progress.downloadId)?.(progress);
  }
}

export function modelsFolder(context: vscode.ExtensionContext): vscode.Uri {
  return vscode.Uri.joinPath(context.globalStorageUri, "models");
}

async function setModelPath(modelPath: string): Promise<void> {
  const config = vscode.workspace.getConfiguration(section);
  await config.update("model.path", modelPath, vscode.ConfigurationTarget.Global);
  const inspected = config.inspect<string>("model.path");
  if (inspected?.workspaceValue !== undefined || inspected?.workspaceFolderValue !== undefined) {
    void vscode.window.showWarningMessage(
      "StreamSink: the model was set in your user settings, but this workspace sets streamsink.model.path too and wins. Remove the workspace value to use it.",
    );
  }
}

function describeProgress(progress: DownloadProgress): string {
  const percent = progress.totalBytes > 0 ? Math.floor((progress.downloadedBytes / progress.totalBytes) * 100) : undefined;
  switch (progress.phase) {
    case "resolving":
      return "resolving…";
    case "verifying":
      return `verifying checksum${percent === undefined ? "" : ` ${percent}%`}…`;
    case "downloading":
      return percent === undefined
        ? `${formatBytes(progress.downloadedBytes)}`
        : `${percent}% — ${formatBytes(progress.downloadedBytes)} of ${formatBytes(progress.totalBytes)}`;
  }
}

/**
 * Downloads `uri` (asking for it when absent) into the global storage and selects it.
 * Returns the result, or undefined when cancelled or failed (the user was told).
 */
export async function downloadModel(
  context: vscode.ExtensionContext,
  connection: ServerConnection,
  router: DownloadProgressRouter,
  uriArgument?: unknown,
  sha256Argument?: unknown,
): Promise<DownloadModelResult | undefined> {
  let uri = typeof uriArgument === "string" ? uriArgument : undefined;
  let sha256 = typeof sha256Argument === "string" && isSha256(sha256Argument) ? sha256Argument : undefined;
  if (uri === undefined) {
    uri = await vscode.window.showInputBox({
      title: "StreamSink: Download Model",
      prompt: "A Hugging Face URI (hf:<user>/<repo>:<quant> or hf:<user>/<repo>/<file>.gguf) or an https:// URL of a .gguf file",
      placeHolder: recommendedModels[0]?.uri,
      ignoreFocusOut: true,
      validateInput: (value) => {
        if (value.trim() === "") return undefined;
        try {
          parseModelAddress(value);
          return undefined;
        } catch (error) {
          return error instanceof ModelUriError ? error.message : String(error);
        }
      },
    });
    if (!uri?.trim()) return undefined;
    if (/^https?:\/\//i.test(uri.trim())) {
      const given = await vscode.window.showInputBox({
        title: "StreamSink: Download Model — expected SHA-256 (optional)",
        prompt: "Paste the file's SHA-256 to have the download verified against it, or press Enter to check only its size and GGUF header.",
        ignoreFocusOut: true,
        validateInput: (value) => (value.trim() === "" || isSha256(value.trim()) ? undefined : "A SHA-256 is 64 hexadecimal digits."),
      });
      if (given === undefined) return undefined;
      sha256 = given.trim() === "" ? undefined : given.trim();
    }
  }
  try {
    parseModelAddress(uri);
  } catch (error) {
    void vscode.window.showErrorMessage(`StreamSink: ${errorMessage(error)}`);
    return undefined;
  }
  const client = connection.running;
  if (!client) {
    const choice = await vscode.window.showErrorMessage(
      "StreamSink: the server is not running, and it is the one that downloads models. Restart it and try again.",
      "Restart Server",
    );
    if (choice) await vscode.commands.executeCommand("streamsink.restartServer");
    return undefined;
  }
  const directory = modelsFolder(context);
  await vscode.workspace.fs.createDirectory(directory);
  const downloadId = randomUUID();
  const address = uri.trim();
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `StreamSink: downloading ${redactUrl(address)}`, cancellable: true },
    async (progress, token) => {
      let reported = 0;
      const subscription = router.listen(downloadId, (update) => {
        const fraction = update.phase === "downloading" && update.totalBytes > 0 ? update.downloadedBytes / update.totalBytes : undefined;
        const increment = fraction === undefined ? undefined : Math.max(0, fraction * 100 - reported);
        if (increment !== undefined) reported += increment;
        progress.report({ message: describeProgress(update), increment });
      });
      try {
        const result = await client.sendRequest(
          DownloadModelRequest.type,
          { uri: address, directory: directory.fsPath, sha256, downloadId },
          token,
        );
        log.info(
          `Downloaded ${redactUrl(address)} to ${result.path} (${result.sizeBytes} bytes, sha256 ${result.sha256}, checksum ${result.checksumSource}` +
            `${result.resumed ? ", resumed" : ""}${result.alreadyPresent ? ", already present" : ""}).`,
        );
        await setModelPath(result.path);
        const checked =
          result.checksumSource === "none" ? "size and GGUF header checked" : `SHA-256 verified (${result.checksumSource === "hub" ? "hub" : "given"} checksum)`;
        void vscode.window.showInformationMessage(
          `StreamSink: ${result.alreadyPresent ? "already downloaded" : "downloaded"} ${formatBytes(result.sizeBytes)}, ${checked}. Now using ${result.path}.`,
        );
        return result;
      } catch (error) {
        if (token.isCancellationRequested) {
          void vscode.window.showInformationMessage(
            "StreamSink: download paused. Download the same model again to resume where it stopped.",
          );
          return undefined;
        }
        const message = redactText(errorMessage(error), secretsOf(address));
        log.error(`Download failed: ${message}`);
        // A refused http:// address: the fix is a setting, so offer it.
        const httpRefused = message.includes("streamsink.download.allowHttpHosts");
        const actions = httpRefused ? ["Open Settings", "Show Log"] : ["Retry", "Show Log"];
        const choice = await vscode.window.showErrorMessage(`StreamSink: ${message}`, ...actions);
        if (choice === "Open Settings") {
          await vscode.commands.executeCommand("workbench.action.openSettings", "streamsink.download.allowHttpHosts");
        }
        if (choice === "Retry") return downloadModel(context, connection, router, address, sha256);
        if (choice === "Show Log") await vscode.commands.executeCommand("streamsink.showLog");
        return undefined;
      } finally {
        subscription.dispose();
      }
    },
  );
}

async function downloadedModels(context: vscode.ExtensionContext): Promise<{ path: string; size: number }[]> {
  const folder = modelsFolder(context).fsPath;
  try {
    const names = await readdir(folder);
    const result: { path: string; size: number }[] = [];
    for (const name of names) {
      if (!/\.gguf$/i.test(name)) continue;
      const file = vscode.Uri.joinPath(modelsFolder(context), name).fsPath;
      const info = await stat(file);
      if (info.isFile()) result.push({ path: file, size: info.size });
    }
    return result;
  } catch {
    return [];
  }
}

type ModelPick = vscode.QuickPickItem & { action: () => Promise<unknown> };

/** QuickPick: browse for a local GGUF, a downloaded one, a recommended one (downloads), or any hf:/https address. */
export async function selectModel(
  context: vscode.ExtensionContext,
  connection: ServerConnection,
  router: DownloadProgressRouter,
): Promise<void> {
  const current = connection.currentSettings.model.path;
  const items: (ModelPick | vscode.QuickPickItem)[] = [
    {
      label: "$(folder-opened) Browse for a GGUF file…",
      detail: "Use a model file you already have on this machine.",
      action: async () => {
        const picked = await vscode.window.showOpenDialog({
          canSelectMany: false,
          openLabel: "Use this model",
          filters: { "GGUF models": ["gguf"] },
          title: "StreamSink: Select Model",
        });
        const file = picked?.[0];
        if (file) {
          await setModelPath(file.fsPath);
          void vscode.window.showInformationMessage(`StreamSink: now using ${file.fsPath}.`);
        }
      },
    } satisfies ModelPick,
  ];
  const downloaded = await downloadedModels(context);
  if (downloaded.length > 0) {
    items.push({ label: "Downloaded", kind: vscode.QuickPickItemKind.Separator });
    for (const model of downloaded) {
      items.push({
        label: `${model.path === current ? "$(check)" : "$(file-binary)"} ${vscode.Uri.file(model.path).path.split("/").pop()}`,
        description: formatBytes(model.size),
        detail: model.path,
        action: async () => {
          await setModelPath(model.path);
          void vscode.window.showInformationMessage(`StreamSink: now using ${model.path}.`);
        },
      } satisfies ModelPick);
    }
  }
  items.push({ label: "Recommended (downloads from Hugging Face)", kind: vscode.QuickPickItemKind.Separator });
  for (const model of recommendedModels) {
    items.push({
      label: `$(cloud-download) ${model.label}`,
      description: model.description,
      detail: `${model.detail} ${model.uri}`,
      action: () => downloadModel(context, connection, router, model.uri),
    } satisfies ModelPick);
  }
  items.push({ label: "", kind: vscode.QuickPickItemKind.Separator });
  items.push({
    label: "$(link) Download from an hf: URI or https URL…",
    action: () => downloadModel(context, connection, router),
  } satisfies ModelPick);
  const choice = await vscode.window.showQuickPick(items, {
    title: "StreamSink: Select Model",
    placeHolder: current ? `Current: ${current}` : "No model selected yet",
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (choice && "action" in choice) await (choice as ModelPick).action();
}
