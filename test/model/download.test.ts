// Model downloads for real, through the real server process, against a local HTTP server that
// plays the Hugging Face hub (HF_ENDPOINT) and a plain file host (plain http allowed for 127.0.0.1):
// a full download verified by the hub's SHA-256, a connection dropped mid-way that resumes with a
// Range request, a cancelled download that resumes later, and corrupted downloads that are
// rejected without touching the model already there.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, rm, mkdtemp, stat, readdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CancellationTokenSource } from "vscode-languageserver-protocol/node";
import {
  DownloadModelRequest,
  DownloadProgressNotification,
  type DownloadModelParams,
  type DownloadProgress,
} from "../../common/protocol";
import { models } from "../support/paths";
import { startServer, testSettings, type ServerHandle } from "../support/serverProcess";
import { eventually } from "../support/eventually";

/** Where the faults cut a stream (bytes into the response). */
const chunk = 5 * 1024 * 1024;

interface Served {
  method: string;
  path: string;
  range?: string;
  start: number;
  bytes: number;
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe("model downloads through the server", () => {
  let tinycoder: Buffer;
  let stories: Buffer;
  let storiesNewVersion: Buffer;
  let http: Server;
  let base: string;
  let server: ServerHandle;
  let folder: string;
  const served: Served[] = [];
  /** Per-path faults: drop the first long ranged GET's connection, or stall every GET until lifted. */
  const faults = new Map<string, "drop" | "stall">();
  const stalled: ServerResponse[] = [];
  /** Files by URL path, with the headers the hub would add. */
  const files = new Map<string, { data: Buffer; headers?: Record<string, string> }>();
  const progress: DownloadProgress[] = [];
  const previousEndpoint = process.env.HF_ENDPOINT;

  function serve(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? "/", base);
    if (url.pathname === "/v2/streamsink-test/TinyCoder-GGUF/manifests/Q8_0") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ ggufFile: { rfilename: "tinycoder-16m-q8_0.gguf" } }));
      return;
    }
    const file = files.get(url.pathname);
    if (!file) {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("Entry not found");
      return;
    }
    const size = file.data.length;
    const rangeHeader = request.headers.range;
    let start = 0;
    let end = size - 1;
    const match = rangeHeader ? /^bytes=(\d+)-(\d*)$/.exec(rangeHeader) : null;
    if (match) {
      start = Number(match[1]);
      end = match[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
    }
    const length = end - start + 1;
    const headers: Record<string, string> = {
      "accept-ranges": "bytes",
      "content-type": "application/octet-stream",
      "content-length": String(length),
      ...file.headers,
    };
    if (match) headers["content-range"] = `bytes ${start}-${end}/${size}`;
    response.writeHead(match ? 206 : 200, headers);
    const record: Served = { method: request.method ?? "GET", path: url.pathname, range: rangeHeader, start, bytes: 0 };
    served.push(record);
    if (request.method === "HEAD") {
      response.end();
      return;
    }
    const cut = chunk + 512 * 1024;
    const fault = faults.get(url.pathname);
    if (fault === "drop" && length > cut) {
      faults.delete(url.pathname);
      record.bytes = cut;
      response.write(file.data.subarray(start, start + cut), () => response.socket?.destroy());
      return;
    }
    if (fault === "stall") {
      // Every stream stalls (a long one after its first chunk), until the test lifts the fault:
      // otherwise the streams that finish take over the stalled one's range and the download
      // completes before it can be cancelled.
      if (length > cut) {
        record.bytes = cut;
        response.write(file.data.subarray(start, start + cut), () => stalled.push(response));
      } else {
        response.flushHeaders();
        stalled.push(response);
      }
      return;
    }
    record.bytes = length;
    response.end(file.data.subarray(start, end + 1));
  }

  before(async () => {
    tinycoder = await readFile(models.tinycoderQ8);
    stories = await readFile(models.stories);
    storiesNewVersion = Buffer.from(stories);
    storiesNewVersion[storiesNewVersion.length - 100] ^= 0xff;
    http = createServer(serve);
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
    const hub = (data: Buffer) => ({ data, headers: { "x-linked-etag": `"${sha256(data)}"`, "x-linked-size": String(data.length) } });
    files.set("/streamsink-test/TinyCoder-GGUF/resolve/main/tinycoder-16m-q8_0.gguf", hub(tinycoder));
    files.set("/streamsink-test/Stories-GGUF/resolve/main/stories260K.gguf", hub(stories));
    files.set("/files/flaky/tinycoder.gguf", { data: tinycoder });
    files.set("/files/stall/tinycoder-stall.gguf", { data: tinycoder });
    files.set("/files/plain/not-a-model.gguf", { data: Buffer.from("<html><body>Rate limited, try later</body></html>\n".repeat(50)) });
    folder = await mkdtemp(path.join(tmpdir(), "streamsink-download-test-"));
    // The hub endpoint override (HF_ENDPOINT, as node-llama-cpp's); the forked server inherits it.
    process.env.HF_ENDPOINT = base;
    // No model: downloading must not need one.
    server = await startServer({ ...testSettings({ path: "" }), download: { allowHttpHosts: ["127.0.0.1"] } });
    server.connection.onNotification(DownloadProgressNotification.type, (update: DownloadProgress) => {
      progress.push(update);
    });
    await server.waitForStatus((status) => status.state === "noModel");
  });

  after(async () => {
    for (const response of stalled) response.destroy();
    await server?.stop();
    http?.closeAllConnections();
    await new Promise<void>((resolve) => http?.close(() => resolve()));
    if (previousEndpoint === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = previousEndpoint;
    await rm(folder, { recursive: true, force: true });
  });

  const params = (uri: string, extra: Partial<DownloadModelParams> = {}): DownloadModelParams => ({
    uri,
    directory: folder,
    downloadId: `${uri}#${served.length}`,
    ...extra,
  });

  it("downloads hf:<user>/<repo>:<quant>, verifies the hub's SHA-256, and the server loads it", async () => {
    const request = params("hf:streamsink-test/TinyCoder-GGUF:Q8_0");
    const result = await server.connection.sendRequest(DownloadModelRequest.type, request);
    assert.equal(result.sha256, sha256(tinycoder));
    assert.equal(result.sizeBytes, tinycoder.length);
    assert.equal(result.checksumSource, "hub");
    assert.equal(result.alreadyPresent, false);
    assert.equal(path.dirname(result.path), folder);
    assert.equal(sha256(await readFile(result.path)), sha256(tinycoder));
    const mine = progress.filter((update) => update.downloadId === request.downloadId);
    assert.ok(mine.some((update) => update.phase === "downloading" && update.totalBytes === tinycoder.length), "download progress with the total size");
    assert.ok(mine.some((update) => update.phase === "verifying"), "a verifying phase");
    // Nothing left behind in the staging folder.
    assert.deepEqual(await readdir(path.join(folder, ".partial")), []);

    // The same address again: already there and verified, nothing downloaded.
    const fileGets = () => served.filter((entry) => entry.method === "GET" && entry.path.includes("/TinyCoder-GGUF/resolve/")).length;
    const before = fileGets();
    const again = await server.connection.sendRequest(DownloadModelRequest.type, params(request.uri));
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.sha256, sha256(tinycoder));
    assert.equal(fileGets(), before, "no GET of the file");

    await server.configure({ ...testSettings({ path: result.path }), download: { allowHttpHosts: ["127.0.0.1"] } });
    await server.ready();
    await server.configure({ ...testSettings({ path: "" }), download: { allowHttpHosts: ["127.0.0.1"] } });
    await server.waitForStatus((status) => status.state === "noModel");
  });

  it("resumes with a Range request when the connection drops mid-way", async () => {
    faults.set("/files/flaky/tinycoder.gguf", "drop");
    const first = served.length;
    const result = await server.connection.sendRequest(DownloadModelRequest.type, params(`${base}files/flaky/tinycoder.gguf`));
    const requests = served.slice(first).filter((entry) => entry.method === "GET" && entry.path === "/files/flaky/tinycoder.gguf");
    const dropped = requests.find((entry) => entry.bytes === chunk + 512 * 1024);
    assert.ok(dropped, `a dropped request: ${JSON.stringify(requests)}`);
    const resumed = requests.slice(requests.indexOf(dropped) + 1).find((entry) => entry.start > 0 && entry.start <= dropped.start + dropped.bytes);
    assert.ok(resumed?.range, `the retry asked for the rest with a Range header: ${JSON.stringify(requests)}`);
    assert.equal(result.sha256, sha256(tinycoder));
    assert.equal(result.checksumSource, "none");
    const ranged = requests.filter((entry) => entry.range !== undefined);
    const sent = ranged.reduce((sum, entry) => sum + entry.bytes, 0);
    assert.ok(sent < tinycoder.length + chunk, `only the unfinished chunk was sent again (${sent} bytes for ${tinycoder.length})`);
  });

  it("keeps a cancelled download and resumes it on the next request", async () => {
    faults.set("/files/stall/tinycoder-stall.gguf", "stall");
    const uri = `${base}files/stall/tinycoder-stall.gguf`;
    const partial = path.join(folder, ".partial", "tinycoder-stall.gguf.part");
    const cancel = new CancellationTokenSource();
    const first = served.length;
    let settled = false;
    const pending = server.connection.sendRequest(DownloadModelRequest.type, params(uri), cancel.token);
    pending.then(
      () => (settled = true),
      () => (settled = true),
    );
    // Wait until the stalled stream has delivered its first chunk and the partial file holds it.
    await eventually(
      async () => {
        assert.equal(settled, false, "the download must still be running (stalled) when it is cancelled");
        const size = (await stat(partial).catch(() => undefined))?.size ?? 0;
        return stalled.length > 0 && size >= chunk + 512 * 1024 ? true : undefined;
      },
      { timeoutMs: Infinity, what: "the stalled download's first chunk in the partial file" },
    );
    cancel.cancel();
    await assert.rejects(pending, (error: { message: string }) => /cancel/i.test(error.message));
    faults.delete("/files/stall/tinycoder-stall.gguf");
    for (const response of stalled.splice(0)) response.destroy();
    assert.ok((await stat(partial)).size > 0, "the partial file is kept");

    const second = served.length;
    const result = await server.connection.sendRequest(DownloadModelRequest.type, params(uri));
    assert.equal(result.resumed, true);
    assert.equal(result.sha256, sha256(tinycoder));
    const again = served.slice(second).filter((entry) => entry.method === "GET" && entry.range !== undefined);
    // What arrived before the cancel is not fetched again.
    const resent = again.reduce((sum, entry) => sum + entry.bytes, 0);
    assert.ok(again.length > 0 && resent <= tinycoder.length - chunk, `${resent} of ${tinycoder.length} bytes fetched again: ${JSON.stringify(again)}`);
    assert.ok(again.some((entry) => entry.start > 0), "with Range requests past the start");
    assert.ok(served.slice(first, second).length > 0);
  });

  it("rejects a download whose SHA-256 does not match the hub's, and keeps the model already there", async () => {
    const uri = "hf:streamsink-test/Stories-GGUF/stories260K.gguf";
    const good = await server.connection.sendRequest(DownloadModelRequest.type, params(uri));
    assert.equal(good.sha256, sha256(stories));
    // The hub now announces a new version, but the bytes that arrive are not it (corrupted in transit).
    files.set("/streamsink-test/Stories-GGUF/resolve/main/stories260K.gguf", {
      data: Buffer.concat([stories.subarray(0, 1000), Buffer.alloc(64, 0x55), stories.subarray(1064)]),
      headers: { "x-linked-etag": `"${sha256(storiesNewVersion)}"`, "x-linked-size": String(storiesNewVersion.length) },
    });
    await assert.rejects(
      server.connection.sendRequest(DownloadModelRequest.type, params(uri)),
      (error: { message: string }) =>
        /corrupted: its SHA-256 is [0-9a-f]{64} but the hub gave/.test(error.message) && /is unchanged/.test(error.message),
    );
    assert.equal(sha256(await readFile(good.path)), sha256(stories), "the good model is untouched");
    assert.deepEqual(
      (await readdir(path.join(folder, ".partial"))).filter((name) => name.startsWith("streamsink-test_stories")),
      [],
      "the corrupted file was deleted",
    );
  });

  it("rejects a file that is not a GGUF model when there is no checksum to compare", async () => {
    await assert.rejects(
      server.connection.sendRequest(DownloadModelRequest.type, params(`${base}files/plain/not-a-model.gguf`)),
      (error: { message: string }) => /corrupted: .*not a GGUF model file/.test(error.message),
    );
    assert.equal(await stat(path.join(folder, "not-a-model.gguf")).catch(() => undefined), undefined);
  });

  it("explains a missing quantization, a missing file, an unreachable host and a bad address", async () => {
    await assert.rejects(
      server.connection.sendRequest(DownloadModelRequest.type, params("hf:streamsink-test/TinyCoder-GGUF:Q2_K")),
      (error: { message: string }) => /has no "Q2_K" quantization/.test(error.message),
    );
    await assert.rejects(
      server.connection.sendRequest(DownloadModelRequest.type, params(`${base}files/plain/missing.gguf`)),
      (error: { message: string }) => /was not found \(HTTP 404\)/.test(error.message),
    );
    // A port nothing listens on: a quick, clear error (no endless retries).
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(
      server.connection.sendRequest(DownloadModelRequest.type, params(`http://127.0.0.1:${port}/model.gguf`)),
      (error: { message: string }) => /Cannot reach 127\.0\.0\.1:\d+ .*ECONNREFUSED/.test(error.message),
    );
    await assert.rejects(
      server.connection.sendRequest(DownloadModelRequest.type, params("ftp://example.com/model.gguf")),
      (error: { message: string }) => /not a model address StreamSink can download/.test(error.message),
    );
    await assert.rejects(
      server.connection.sendRequest(DownloadModelRequest.method, { uri: "hf:a/b:Q4_K_M", directory: "relative/dir", downloadId: "x" }),
      (error: { message: string }) => /absolute path/.test(error.message),
    );
    assert.equal(server.process.exitCode, null, "the server is still running");
  });
});
