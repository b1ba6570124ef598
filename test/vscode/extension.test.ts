/// <reference types="mocha" />
// Extension-host tests: run inside a real VS Code extension host (code-server's bundled VS Code
// server with the smoke-test driver, or desktop VS Code through @vscode/test-cli), with the user
// setting streamsink.model.path pointing at ../shared/models/tinycoder-16m-q8_0.gguf.
import assert from "node:assert/strict";
import path from "node:path";
import * as vscode from "vscode";
import type { ServerStatus } from "../../common/protocol";
import type { ServerConnection } from "../../src/client";
import { notReadyMessage } from "../../src/commands";
import type { StreamSinkApi } from "../../src/extension";
import { eventually } from "../support/eventually";

const extensionId = "streamsink.streamsink";
const modelPath = path.resolve(__dirname, "..", "..", "..", "shared", "models", "tinycoder-16m-q8_0.gguf");
const modelName = "tinycoder-16m-q8_0";

async function api(): Promise<StreamSinkApi> {
  const ext = vscode.extensions.getExtension<StreamSinkApi>(extensionId);
  assert.ok(ext, `${extensionId} is not installed in this extension host`);
  return await ext.activate();
}

/** Resolves with the first status (current or next) that matches, or fails after timeoutMs. */
async function statusMatching(streamsink: StreamSinkApi, what: string, predicate: (s: ServerStatus) => boolean, timeoutMs = 90_000): Promise<ServerStatus> {
  if (predicate(streamsink.status)) return streamsink.status;
  return await new Promise<ServerStatus>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out waiting for ${what}; status is ${JSON.stringify(streamsink.status)}`));
    }, timeoutMs);
    const sub = streamsink.onDidChangeStatus((s) => {
      if (predicate(s)) {
        clearTimeout(timer);
        sub.dispose();
        resolve(s);
      }
    });
  });
}

const isReady = (s: ServerStatus) => s.state === "ready" && s.modelName === modelName;

async function setModelPath(value: string | undefined): Promise<void> {
  await vscode.workspace.getConfiguration("streamsink").update("model.path", value, vscode.ConfigurationTarget.Global);
}

interface CopiedSequence {
  label: string;
  sinks: number;
  kvCells: number;
  contextSize: number;
  tokensSeen: number;
  sinkTokens: number[];
}

interface CopiedDiagnostics {
  extension: { id: string; version: string };
  settings: { model: { path: string } };
  status: ServerStatus;
  diagnostics?: { status: ServerStatus; sequences: CopiedSequence[]; model?: { name: string } };
  unavailable?: string;
}

/** Runs StreamSink: Copy Diagnostics and parses what it put on the clipboard. */
async function copyDiagnostics(): Promise<CopiedDiagnostics> {
  await vscode.env.clipboard.writeText("");
  await vscode.commands.executeCommand("streamsink.copyDiagnostics");
  const text = await vscode.env.clipboard.readText();
  assert.ok(text.trim().startsWith("{"), `the clipboard holds no JSON after Copy Diagnostics: ${JSON.stringify(text.slice(0, 200))}`);
  return JSON.parse(text) as CopiedDiagnostics;
}

describe("StreamSink in the extension host", () => {
  after(async () => {
    // Leave the profile as it started: the model setting back on the tiny model.
    await setModelPath(modelPath);
  });

  it("activates and returns its API", async () => {
    const ext = vscode.extensions.getExtension<StreamSinkApi>(extensionId);
    assert.ok(ext, "extension not found");
    const streamsink = await ext.activate();
    assert.equal(ext.isActive, true);
    assert.equal(typeof streamsink.onDidChangeStatus, "function");
  });

  it("registers every contributed command", async () => {
    await api();
    const ext = vscode.extensions.getExtension(extensionId)!;
    const contributed: string[] = (ext.packageJSON.contributes?.commands ?? []).map((c: { command: string }) => c.command);
    assert.ok(contributed.includes("streamsink.restartServer") && contributed.includes("streamsink.showLog"), `contributes: ${contributed.join(", ")}`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(", ")}`);
  });

  it("loads the configured model: status ready with the model name", async () => {
    const streamsink = await api();
    const ready = await statusMatching(streamsink, "ready", isReady);
    assert.equal(ready.modelPath, modelPath);
    assert.ok(ready.backend, "ready status names no backend");
  });

  it("sanitised settings reach the server: a workspace-relative model path is resolved", async function () {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    if (!folder) this.skip();
    const streamsink = await api();
    await statusMatching(streamsink, "ready", isReady);
    const relative = path.relative(folder!, modelPath);
    assert.ok(!path.isAbsolute(relative));
    // From an error state, so that only the relative setting can bring it back to ready.
    await setModelPath(path.join(folder!, "missing.gguf"));
    await statusMatching(streamsink, "error", (s) => s.state === "error");
    await setModelPath(relative);
    const ready = await statusMatching(streamsink, "ready", isReady);
    assert.equal(ready.modelPath, modelPath, "the server got the path unresolved");
  });

  it("a missing model file gives an error naming the path; fixing the setting recovers", async () => {
    const streamsink = await api();
    await statusMatching(streamsink, "ready", isReady);
    const missing = path.join(path.dirname(modelPath), "no-such-model.gguf");
    await setModelPath(missing);
    const error = await statusMatching(streamsink, "error", (s) => s.state === "error");
    assert.ok(error.message.includes(missing), `error message does not name the path: ${error.message}`);
    await setModelPath(modelPath);
    const ready = await statusMatching(streamsink, "ready again", isReady);
    assert.equal(ready.modelPath, modelPath);
  });

  it("Copy Diagnostics puts JSON with the model and the completion sequence on the clipboard", async () => {
    const streamsink = await api();
    await statusMatching(streamsink, "ready", isReady);
    // An inline completion in a workspace file creates the completion sequence.
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    assert.ok(folder, "the extension host has no workspace folder");
    const document = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, "hello.py"));
    const editor = await vscode.window.showTextDocument(document);
    const end = document.lineAt(document.lineCount - 1).range.end;
    await editor.edit((edit) => edit.insert(end, "\ndef add(a, b):\n    "));
    const cursor = document.lineAt(document.lineCount - 1).range.end;
    editor.selection = new vscode.Selection(cursor, cursor);
    let report: CopiedDiagnostics | undefined;
    const completion = await eventually(
      async () => {
        await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
        report = await copyDiagnostics();
        return report.diagnostics?.sequences.find((s) => s.label === "completion");
      },
      { timeoutMs: 60_000, intervalMs: 250, what: "a completion sequence in the copied diagnostics" },
    );
    await vscode.commands.executeCommand("workbench.action.revertAndCloseActiveEditor");
    assert.ok(report);
    assert.equal(report.extension.id, extensionId);
    assert.equal(report.status.state, "ready");
    assert.equal(report.settings.model.path, modelPath);
    assert.equal(report.diagnostics?.model?.name, modelName);
    assert.ok(completion.contextSize > 0 && completion.contextSize % 256 === 0, `context size ${completion.contextSize} is not a multiple of 256`);
    assert.ok(completion.kvCells > 0 && completion.kvCells <= completion.contextSize - 1, `KV cells ${completion.kvCells} of ${completion.contextSize}`);
    assert.ok(completion.tokensSeen >= completion.kvCells, `tokens seen ${completion.tokensSeen} < KV cells ${completion.kvCells}`);
    assert.equal(completion.sinkTokens.length, completion.sinks, "sink token ids do not match the sink count");
  });

  it("Reset Completion Cache and Reset Chat Cache succeed with a loaded model", async () => {
    const streamsink = await api();
    await statusMatching(streamsink, "ready", isReady);
    const before = (await copyDiagnostics()).diagnostics?.sequences.find((s) => s.label === "completion");
    const completion = (await vscode.commands.executeCommand("streamsink.resetCompletionCache")) as { label: string; message: string } | undefined;
    assert.ok(completion, "Reset Completion Cache failed (no result)");
    assert.equal(completion.label, "completion");
    if (before) assert.ok(completion.message.includes(`${before.kvCells} cells`), `reset message: ${completion.message} (before: ${before.kvCells} cells)`);
    const after = (await copyDiagnostics()).diagnostics?.sequences.find((s) => s.label === "completion");
    assert.ok(!after || after.kvCells === 0, `the completion cache still holds ${after?.kvCells} cells after the reset`);
    const chat = (await vscode.commands.executeCommand("streamsink.resetChatCache")) as { label: string; message: string } | undefined;
    assert.ok(chat, "Reset Chat Cache failed (no result)");
    assert.equal(chat.label, "chat");
    assert.match(chat.message, /Cleared the chat KV cache/);
  });

  it("a command that needs the model explains itself when no model is configured, and does not hang", async () => {
    const streamsink = await api();
    await statusMatching(streamsink, "ready", isReady);
    await setModelPath("");
    try {
      const noModel = await statusMatching(streamsink, "noModel", (s) => s.state === "noModel");
      assert.match(noModel.message, /streamsink\.model\.path/, `the no-model status does not say what to set: ${noModel.message}`);
      // What the command shows (a warning with Open Settings / Show Log) for this very status.
      const shown = notReadyMessage({ currentStatus: streamsink.status } as ServerConnection);
      assert.match(shown, /no model/i);
      assert.match(shown, /streamsink\.model\.path/);
      assert.match(shown, /Select Model/);
      // The refusal returns at once (it does not wait for the warning to be dismissed) and resets nothing.
      const result = await Promise.race([
        vscode.commands.executeCommand("streamsink.resetChatCache"),
        new Promise((resolve) => setTimeout(() => resolve("still running after 10 s"), 10_000)),
      ]);
      assert.equal(result, undefined);
    } finally {
      await setModelPath(modelPath);
    }
    await statusMatching(streamsink, "ready again", isReady);
  });

  it("a killed server comes back by itself; a command while it is down explains itself and does not hang", async () => {
    const streamsink = await api();
    await statusMatching(streamsink, "ready", isReady);
    const killed = streamsink.serverPid;
    assert.ok(killed, "the API reports the server's pid");
    const sawCrash = statusMatching(streamsink, "the crash noticed", (s) => s.state !== "ready", 30_000);
    process.kill(killed, "SIGKILL");
    await sawCrash;
    // A command that needs the model, while the server is down or restarting: returns at once.
    const result = await Promise.race([
      vscode.commands.executeCommand("streamsink.resetChatCache"),
      new Promise((resolve) => setTimeout(() => resolve("still running after 10 s"), 10_000)),
    ]);
    assert.notEqual(result, "still running after 10 s");
    await statusMatching(streamsink, "ready after the crash", isReady);
    assert.ok(streamsink.serverPid && streamsink.serverPid !== killed, `a new server process (was ${killed}, now ${streamsink.serverPid})`);
    const copied = await copyDiagnostics();
    assert.equal(copied.diagnostics?.model?.name, modelName, "the restarted server answers requests");
  });

  it("restartServer brings the server back to ready", async () => {
    const streamsink = await api();
    await statusMatching(streamsink, "ready", isReady);
    const sawRestart = statusMatching(streamsink, "a restart", (s) => s.state !== "ready", 30_000);
    await vscode.commands.executeCommand("streamsink.restartServer");
    await sawRestart;
    await statusMatching(streamsink, "ready after restart", isReady);
  });
});
