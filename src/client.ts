// The language-client lifecycle: starts dist/server.js over IPC, forwards settings, restarts it,
// and turns its status notifications into events. Things that live as long as one client are added
// to a per-client scope (`forEachClient` for features) and disposed when it stops or restarts.
import * as vscode from "vscode";
import {
  LanguageClient,
  State,
  type LanguageClientOptions,
  type Middleware,
  type ServerOptions,
} from "vscode-languageclient/node";
import { DisposableStore } from "../common/disposable";
import { ConfigureNotification, ServerStatusNotification, type ServerConfiguration, type ServerStatus } from "../common/protocol";
import type { Settings } from "../common/settings";
import { logChannel, log } from "./log";
import { CrashRecovery, logCrash } from "./reliability/crashRecovery";
import { ServerProcessLauncher } from "./reliability/serverProcess";
import { errorMessage } from "../common/errors";

export class ServerConnection implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private clientScope = new DisposableStore();
  /** Forks the server and restarts it after a crash (src/reliability); lives as long as this object. */
  private recovery: { launcher: ServerProcessLauncher; handler: CrashRecovery } | undefined;
  private status: ServerStatus = { state: "starting", message: "Starting StreamSink server…" };
  private readonly statusEmitter = new vscode.EventEmitter<ServerStatus>();
  private readonly clientEmitter = new vscode.EventEmitter<LanguageClient | undefined>();
  /** Fires on every server status (loading, ready, error…). */
  readonly onStatus = this.statusEmitter.event;
  /** Fires when a new client is running (or undefined when it stopped). */
  readonly onClient = this.clientEmitter.event;
  /** Client middleware shared by every client this object starts; features add their hooks to it. */
  readonly middleware: Middleware = {};

  constructor(
    private readonly extensionUri: vscode.Uri,
    private settings: Settings,
    /** Folder the server keeps chat KV snapshots in (global storage + "/kv"); absent: none saved. */
    private readonly storagePath?: string,
  ) {}

  get currentStatus(): ServerStatus {
    return this.status;
  }

  get currentSettings(): Settings {
    return this.settings;
  }

  /** The running client, or undefined while the server is stopped or starting. */
  get running(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  /** The server process's id while one runs (for the extension-host tests and other extensions). */
  get serverPid(): number | undefined {
    return this.recovery?.launcher.pid;
  }

  get isReady(): boolean {
    return this.running !== undefined && this.status.state === "ready";
  }

  async start(): Promise<void> {
    const module = vscode.Uri.joinPath(this.extensionUri, "dist", "server.js").fsPath;
    const recovery = (this.recovery ??= this.createRecovery(module));
    const serverOptions: ServerOptions = () => recovery.launcher.launch();
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      outputChannel: logChannel(),
      traceOutputChannel: logChannel(),
      // A function: a server restarted after a crash gets the current settings.
      initializationOptions: () => this.serverConfiguration(),
      progressOnInitialization: false,
      middleware: this.middleware,
      errorHandler: recovery.handler,
    };
    const client = new LanguageClient("streamsink", "StreamSink", serverOptions, clientOptions);
    this.client = client;
    this.clientScope.add(client.onNotification(ServerStatusNotification.type, (status) => this.setStatus(status)));
    this.clientScope.add(
      client.onDidChangeState((event) => {
        if (event.newState === State.Stopped && this.client === client) {
          this.setStatus({
            state: "error",
            message:
              this.recovery?.handler.gaveUp?.message ??
              "The StreamSink server stopped. Run “StreamSink: Restart Server”; the log has details.",
            modelName: this.status.modelName,
            modelPath: this.status.modelPath,
          });
          this.clientEmitter.fire(undefined);
        }
      }),
    );
    this.setStatus({ state: "starting", message: "Starting StreamSink server…" });
    try {
      await client.start();
    } catch (error) {
      const message = `The StreamSink server could not start: ${errorMessage(error)}`;
      log.error(message);
      this.setStatus({ state: "error", message });
      return;
    }
    this.clientEmitter.fire(client);
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.clientScope.dispose();
    this.clientScope = new DisposableStore();
    this.clientEmitter.fire(undefined);
    if (client && client.state !== State.Stopped) {
      try {
        await client.stop(5000);
      } catch (error) {
        log.warn(`Stopping the server: ${errorMessage(error)}`);
      }
    }
  }

  async restart(): Promise<void> {
    log.info("Restarting the StreamSink server.");
    this.recovery?.handler.reset();
    await this.stop();
    this.recovery?.launcher.killCurrent();
    await this.start();
  }

  /**
   * Calls `attach` with the running client now and again whenever the client changes (undefined
   * while none runs); what it adds to `scope` is disposed at the next change. The per-client scope.
   */
  forEachClient(attach: (client: LanguageClient | undefined, scope: DisposableStore) => void): vscode.Disposable {
    let scope = new DisposableStore();
    const change = (client: LanguageClient | undefined): void => {
      scope.dispose();
      scope = new DisposableStore();
      attach(client, scope);
    };
    change(this.running);
    const subscription = this.onClient(change);
    return new vscode.Disposable(() => {
      subscription.dispose();
      scope.dispose();
    });
  }

  /** Sends new settings to the running server (it reloads what they change). */
  async configure(settings: Settings): Promise<void> {
    this.settings = settings;
    const client = this.running;
    if (client) await client.sendNotification(ConfigureNotification.type, this.serverConfiguration());
  }

  /** Settings plus the storage folder: what the server gets at start and with every change. */
  private serverConfiguration(): ServerConfiguration {
    return this.storagePath === undefined ? this.settings : { ...this.settings, storagePath: this.storagePath };
  }

  dispose(): void {
    void this.stop();
    this.statusEmitter.dispose();
    this.clientEmitter.dispose();
  }

  private createRecovery(module: string): { launcher: ServerProcessLauncher; handler: CrashRecovery } {
    const launcher = new ServerProcessLauncher({ module, onStderr: (text) => logChannel().append(text) });
    const handler = new CrashRecovery(launcher, (event) => {
      logCrash(event, log);
      if (event.action !== "restart") return;
      vscode.window.setStatusBarMessage(`$(warning) ${event.message}`, 30_000);
      this.setStatus({ state: "starting", message: event.message, modelName: this.status.modelName, modelPath: this.status.modelPath });
    });
    return { launcher, handler };
  }

  private setStatus(status: ServerStatus): void {
    const changed = status.state !== this.status.state || status.message !== this.status.message;
    this.status = status;
    if (changed) {
      const line = `Server ${status.state}: ${status.message}`;
      if (status.state === "error") log.error(line);
      else log.info(line);
    }
    this.statusEmitter.fire(status);
  }
}
