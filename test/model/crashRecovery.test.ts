// Crash recovery with the real server process: the launcher the extension uses forks dist/server.js,
// the server is killed with SIGKILL mid-request, the exit is described, the crash window says
// "restart", and the relaunched server loads the model again and answers the next request.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import {
  createProtocolConnection,
  InitializeRequest,
  InitializedNotification,
  type ProtocolConnection,
} from "vscode-languageserver-protocol/node";
import { GenerateRequest, ServerStatusNotification, type ServerStatus } from "../../common/protocol";
import { CrashWindow } from "../../src/reliability/crashWindow";
import { ServerProcessLauncher } from "../../src/reliability/serverProcess";
import { models, serverBundle } from "../support/paths";
import { testSettings } from "../support/serverProcess";

async function connect(launcher: ServerProcessLauncher): Promise<{ connection: ProtocolConnection; ready: Promise<ServerStatus> }> {
  const { reader, writer } = await launcher.launch();
  const connection = createProtocolConnection(reader, writer);
  const ready = new Promise<ServerStatus>((resolve, reject) => {
    connection.onNotification(ServerStatusNotification.type, (status) => {
      if (status.state === "ready") resolve(status);
      if (status.state === "error") reject(new Error(status.message));
    });
  });
  connection.listen();
  await connection.sendRequest(InitializeRequest.type, {
    processId: process.pid,
    rootUri: null,
    capabilities: {},
    initializationOptions: testSettings({ path: models.tinycoderQ8 }),
  });
  await connection.sendNotification(InitializedNotification.type, {});
  return { connection, ready };
}

describe("crash recovery", () => {
  const launcher = new ServerProcessLauncher({ module: serverBundle, onStderr: (text) => process.stderr.write(text) });
  after(() => launcher.killCurrent());

  it("reports SIGKILL mid-request, and a relaunched server answers the next request", async () => {
    const window = new CrashWindow();
    const first = await connect(launcher);
    await first.ready;
    // The language client disposes its connection when the server's channel closes, which fails
    // the requests still in flight (they are not left hanging).
    const closed = new Promise<void>((resolve) =>
      first.connection.onClose(() => {
        first.connection.dispose();
        resolve();
      }),
    );
    const inFlight = first.connection.sendRequest(GenerateRequest.type, { prompt: "def main():\n", maxTokens: 2000 });
    const pid = launcher.pid!;
    process.kill(pid, "SIGKILL");
    await closed;
    await assert.rejects(inFlight);
    const exit = await launcher.lastExit();
    assert.deepEqual(exit, { code: null, signal: "SIGKILL" });
    const decision = window.record(Date.now(), exit);
    assert.equal(decision.action, "restart");
    assert.match(decision.message, /crashed \(signal SIGKILL/);

    const second = await connect(launcher);
    assert.notEqual(launcher.pid, pid, "a new process");
    await second.ready;
    if (process.platform === "linux") {
      // Launched as the extension launches it: plain Node, at most two malloc arenas, a fixed mmap threshold.
      const environ = readFileSync(`/proc/${launcher.pid}/environ`, "utf8").split("\0");
      assert.ok(environ.includes("ELECTRON_RUN_AS_NODE=1"));
      assert.ok(environ.includes(`MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? "2"}`), "MALLOC_ARENA_MAX is set (the user's value wins)");
      assert.ok(environ.includes(`MALLOC_MMAP_THRESHOLD_=${process.env.MALLOC_MMAP_THRESHOLD_ ?? "131072"}`), "MALLOC_MMAP_THRESHOLD_ is set (the user's value wins)");
    }
    const result = await second.connection.sendRequest(GenerateRequest.type, { prompt: "import ", maxTokens: 4 });
    assert.ok(result.generatedTokens > 0, "the next request works");
    second.connection.dispose();
  });
});
