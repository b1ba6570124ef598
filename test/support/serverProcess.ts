// Starts the real language server (dist/server.js) the way VS Code does — a forked Node process
// speaking JSON-RPC over IPC — and gives tests a typed connection to it.
import assert from "node:assert/strict";
import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import {
  createProtocolConnection,
  InitializeRequest,
  InitializedNotification,
  ExitNotification,
  ShutdownRequest,
  IPCMessageReader,
  IPCMessageWriter,
  type ProtocolConnection,
} from "vscode-languageserver-protocol/node";
import { ConfigureNotification, ServerStatusNotification, type ServerStatus } from "../../common/protocol";
import { defaultSettings, type Settings } from "../../common/settings";
import { serverBundle } from "./paths";
import { serverEnvironment } from "../../src/reliability/serverProcess";

export interface ServerHandle {
  process: ChildProcess;
  connection: ProtocolConnection;
  statuses: ServerStatus[];
  logs: { type: number; message: string }[];
  /** Resolves with the first status (already received or future) that matches. */
  waitForStatus(match: (status: ServerStatus) => boolean, timeoutMs?: number): Promise<ServerStatus>;
  /**
   * Waits until the model has loaded or failed (the next ready or error status, or one already
   * received) and asserts it is ready; resolves with that status. `what` prefixes the message.
   */
  ready(options?: { timeoutMs?: number; what?: string }): Promise<ServerStatus>;
  configure(settings: Settings): Promise<void>;
  /** Shuts the server down (SIGKILL after 5 s) and closes the connection; the handle's disposer. */
  stop(): Promise<void>;
}

export function testSettings(overrides: Partial<Settings["model"]> & { context?: Partial<Settings["context"]> } = {}): Settings {
  const { context, ...model } = overrides;
  return {
    ...defaultSettings,
    model: { ...defaultSettings.model, backend: "cpu", ...model },
    context: { ...defaultSettings.context, size: 512, ...context },
    // One thread: on a shared 2-core machine a 2-thread context is 20-30x slower under load.
    threads: 1,
    logLevel: "debug",
  };
}

export async function startServer(settings: Settings): Promise<ServerHandle> {
  if (!existsSync(serverBundle)) throw new Error(`${serverBundle} is missing: run npm run build first.`);
  const child = fork(serverBundle, ["--node-ipc"], { env: serverEnvironment(), stdio: ["ignore", "ignore", "pipe", "ipc"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const connection = createProtocolConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
  const statuses: ServerStatus[] = [];
  const logs: { type: number; message: string }[] = [];
  const waiters: { match: (status: ServerStatus) => boolean; resolve: (status: ServerStatus) => void }[] = [];
  connection.onNotification(ServerStatusNotification.type, (status) => {
    statuses.push(status);
    for (const waiter of [...waiters]) {
      if (waiter.match(status)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(status);
      }
    }
  });
  connection.onNotification("window/logMessage", (params: { type: number; message: string }) => {
    logs.push(params);
  });
  connection.listen();
  await connection.sendRequest(InitializeRequest.type, {
    processId: process.pid,
    rootUri: null,
    capabilities: {},
    initializationOptions: settings,
  });
  await connection.sendNotification(InitializedNotification.type, {});

  const handle: ServerHandle = {
    process: child,
    connection,
    statuses,
    logs,
    waitForStatus(match, timeoutMs = 60_000) {
      const seen = statuses.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `No matching server status within ${timeoutMs} ms. Seen: ${JSON.stringify(statuses)}\nstderr: ${stderr}`,
            ),
          );
        }, timeoutMs);
        waiters.push({
          match,
          resolve: (status) => {
            clearTimeout(timer);
            resolve(status);
          },
        });
      });
    },
    async ready({ timeoutMs, what } = {}) {
      const status = await handle.waitForStatus((s) => s.state === "ready" || s.state === "error", timeoutMs);
      assert.equal(status.state, "ready", what === undefined ? status.message : `${what}: ${status.message}`);
      return status;
    },
    async configure(next) {
      statuses.length = 0;
      await connection.sendNotification(ConfigureNotification.type, next);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      try {
        await connection.sendRequest(ShutdownRequest.type);
        await connection.sendNotification(ExitNotification.type);
      } catch {
        // The process may already be gone; it is killed below either way.
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      connection.dispose();
    },
  };
  return handle;
}

/**
 * Starts the server with `settings` and waits for the model: resolves with the handle once it is
 * ready; where it reports an error instead (or nothing in time), stops the process and throws.
 */
export async function startReadyServer(settings: Settings, options?: { timeoutMs?: number; what?: string }): Promise<ServerHandle> {
  const server = await startServer(settings);
  try {
    await server.ready(options);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}
