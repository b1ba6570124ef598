// Downloads against a hostile HTTP server on 127.0.0.1 (a real node:http server, written here):
// a redirect loop, an endless manifest, an endless body without Content-Length, a body that drops
// at 50 % (with and without Range support), a server that accepts and never answers, one that stops
// mid-body, plain http://, credentials in the address, and Cancel in every phase. Each case asserts
// the message, and bounded time and memory. The download core (server/model/download/) runs in this
// process with short limits (the shipped ones are 30 s / 60 s / 64 GiB); the end-to-end cases run
// through the real server process with its shipped limits.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CancellationTokenSource } from "vscode-languageserver-protocol/node";
import { bench, DownloadModelRequest, type DownloadModelParams } from "../../common/protocol";
import { downloadBody } from "../../server/model/download/body";
import { maxManifestBytes, open, readCapped, send, type NetPolicy } from "../../server/model/download/http";
import { startServer, testSettings, type ServerHandle } from "../support/serverProcess";
import { eventually } from "../support/eventually";

const fileSize = 4 * 1024 * 1024;
const file = Buffer.alloc(fileSize);
for (let i = 0; i < fileSize; i++) file[i] = (i * 31 + (i >> 10)) & 0xff;

interface Seen {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

/** Writes `chunk` for ever (as fast as the client reads), until the connection is gone. */
function pump(response: ServerResponse, chunk: Buffer, sent: { bytes: number }): void {
  const more = () => {
    while (!response.destroyed) {
      sent.bytes += chunk.length;
      if (!response.write(chunk)) {
        response.once("drain", more);
        return;
      }
    }
  };
  more();
}

/** The hostile server: every path is one kind of misbehaviour. */
function hostile(seen: Seen[], held: ServerResponse[], sent: { bytes: number }) {
  const dropped = new Set<string>();
  return (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    seen.push({ method: request.method ?? "GET", path: url.pathname, range: request.headers.range, authorization: request.headers.authorization });
    const loop = /^\/loop\/(\d+)\/model\.gguf$/.exec(url.pathname);
    if (loop) {
      response.writeHead(302, { location: `/loop/${Number(loop[1]) + 1}/model.gguf` }).end();
      return;
    }
    const slowLoop = /^\/slow-loop\/(\d+)$/.exec(url.pathname);
    if (slowLoop) {
      setTimeout(() => response.writeHead(302, { location: `/slow-loop/${Number(slowLoop[1]) + 1}` }).end(), 150);
      return;
    }
    switch (url.pathname) {
      case "/v2/hostile/Endless-GGUF/manifests/Q8_0": {
        response.writeHead(200, { "content-type": "application/json" });
        response.write('{"ggufFile":{"rfilename":"');
        pump(response, Buffer.from("a".repeat(64 * 1024)), sent);
        return;
      }
      case "/v2/hostile/Silent-GGUF/manifests/Q8_0":
      case "/silent.gguf":
        held.push(response); // accepts, never answers
        return;
      case "/to-http.gguf":
        response.writeHead(302, { location: `http://localhost:${(request.socket.localPort ?? 0)}/x.gguf` }).end();
        return;
      case "/to-ftp.gguf":
        response.writeHead(302, { location: "ftp://127.0.0.1/x.gguf" }).end();
        return;
      case "/endless.gguf": {
        if (request.method === "HEAD") return void response.writeHead(200).end();
        response.writeHead(200, { "content-type": "application/octet-stream" });
        pump(response, Buffer.alloc(256 * 1024), sent);
        return;
      }
      case "/half-no-range.gguf":
      case "/half-range.gguf": {
        const ranges = url.pathname === "/half-range.gguf";
        const match = ranges ? /^bytes=(\d+)-$/.exec(request.headers.range ?? "") : null;
        const start = match ? Number(match[1]) : 0;
        const headers: Record<string, string> = { "content-length": String(fileSize - start) };
        if (ranges) headers["accept-ranges"] = "bytes";
        if (match) headers["content-range"] = `bytes ${start}-${fileSize - 1}/${fileSize}`;
        response.writeHead(match ? 206 : 200, headers);
        if (request.method === "HEAD") return void response.end();
        // Without Range support every answer drops at 50 %; with it, only the first one.
        if (!ranges || !dropped.has(url.pathname)) {
          dropped.add(url.pathname);
          response.write(file.subarray(start, fileSize / 2), () => response.socket?.destroy());
          return;
        }
        response.end(file.subarray(start));
        return;
      }
      case "/stall-body.gguf":
        response.writeHead(200, { "content-length": String(fileSize) });
        response.write(file.subarray(0, 1024));
        held.push(response);
        return;
      case "/busy.gguf":
        response.writeHead(503).end("busy");
        return;
      default:
        response.writeHead(404).end("not found");
    }
  };
}

function elapsedSince(started: number): number {
  return performance.now() - started;
}

describe("downloads against a hostile HTTP server", () => {
  let http: Server;
  let base: string;
  let folder: string;
  const seen: Seen[] = [];
  const held: ServerResponse[] = [];
  const sent = { bytes: 0 };
  const policy: NetPolicy = { allowHttpHosts: ["127.0.0.1"], responseTimeoutMs: 300, idleTimeoutMs: 300, maxRedirects: 10 };
  const never = new AbortController().signal;

  before(async () => {
    http = createServer(hostile(seen, held, sent));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    folder = await mkdtemp(path.join(tmpdir(), "streamsink-hostile-download-"));
  });

  after(async () => {
    for (const response of held) response.destroy();
    http?.closeAllConnections();
    await new Promise<void>((resolve) => http?.close(() => resolve()));
    await rm(folder, { recursive: true, force: true });
  });

  const count = (pathPrefix: string) => seen.filter((entry) => entry.path.startsWith(pathPrefix)).length;

  describe("the download core, with short limits", () => {
    it("stops a redirect loop after 10 redirects", async () => {
      const started = performance.now();
      await assert.rejects(open(`${base}/loop/0/model.gguf`, { signal: never, policy, what: "download the model" }), (error: Error) =>
        /redirected more than 10 times .*a redirect loop\. Check the address/.test(error.message),
      );
      assert.equal(count("/loop/"), 11, "the first request and 10 redirects");
      assert.ok(elapsedSince(started) < 2000);
    });

    it("reads at most 1 MiB of an endless manifest", async () => {
      const heapBefore = process.memoryUsage().heapUsed;
      const started = performance.now();
      const { response } = await open(`${base}/v2/hostile/Endless-GGUF/manifests/Q8_0`, { signal: never, policy, what: "resolve the model" });
      await assert.rejects(readCapped(response, maxManifestBytes, "resolve hf:hostile/Endless-GGUF:Q8_0"), (error: Error) =>
        /larger than 1048576 bytes.*Check the address/.test(error.message),
      );
      assert.ok(elapsedSince(started) < 3000);
      assert.ok(sent.bytes < 16 * maxManifestBytes, `the server got to send ${sent.bytes} bytes`);
      assert.ok(process.memoryUsage().heapUsed - heapBefore < 32 * 1024 * 1024, "memory stays bounded");
    });

    it("caps an endless body without Content-Length, and deletes it", async () => {
      const partPath = path.join(folder, "endless.part");
      const cap = 8 * 1024 * 1024;
      const started = performance.now();
      await assert.rejects(
        downloadBody({ url: `${base}/endless.gguf`, partPath, maxBytes: cap, signal: never, policy, backoffMs: 10 }),
        (error: Error) => /sent more than 8388608 bytes without announcing its size: not a single-file model/.test(error.message),
      );
      assert.ok(elapsedSince(started) < 5000);
      assert.equal(await stat(partPath).catch(() => undefined), undefined, "the partial file is deleted");
    });

    it("gives up on a body that always drops at 50 % after 5 attempts with backoff", async () => {
      const partPath = path.join(folder, "half-no-range.part");
      const before = count("/half-no-range.gguf");
      const started = performance.now();
      await assert.rejects(
        downloadBody({ url: `${base}/half-no-range.gguf`, partPath, signal: never, policy, backoffMs: 20 }),
        (error: Error) =>
          /failed 5 times; the last time: The connection (dropped|ended) after \d+ of 4194304 bytes.*Check your network/.test(error.message),
      );
      const took = elapsedSince(started);
      assert.equal(count("/half-no-range.gguf") - before, 5);
      assert.ok(took >= 20 + 40 + 80 + 160, `backoff waits (${took} ms)`);
      assert.ok(took < 5000);
      assert.equal(await stat(partPath).catch(() => undefined), undefined, "no partial file that could be taken for a model");
    });

    it("resumes a body dropped at 50 % with a Range request when the server supports it", async () => {
      const partPath = path.join(folder, "half-range.part");
      const result = await downloadBody({ url: `${base}/half-range.gguf`, partPath, signal: never, policy, backoffMs: 20 });
      assert.equal(result.size, fileSize);
      assert.equal(result.attempts, 2);
      assert.ok((await readFile(partPath)).equals(file), "the resumed file is the file");
      const gets = seen.filter((entry) => entry.path === "/half-range.gguf");
      assert.equal(gets.length, 2);
      assert.match(gets[1]!.range ?? "", /^bytes=\d+-$/);
      assert.ok(Number(/\d+/.exec(gets[1]!.range!)![0]) >= fileSize / 4, "continued, not restarted");
    });

    it("times out a server that accepts and never answers, and one that stops mid-body", async () => {
      let started = performance.now();
      await assert.rejects(send(`${base}/silent.gguf`, { method: "HEAD", signal: never, policy, what: "look up the model's size" }), (error: Error) =>
        /did not answer within 300 ms when asked to look up the model's size.*try again later/.test(error.message),
      );
      assert.ok(elapsedSince(started) < 1500, `${elapsedSince(started)} ms`);
      started = performance.now();
      await assert.rejects(
        downloadBody({ url: `${base}/stall-body.gguf`, partPath: path.join(folder, "stall.part"), signal: never, policy, attempts: 2, backoffMs: 10 }),
        (error: Error) => /failed 2 times; the last time: .*stopped sending/.test(error.message),
      );
      assert.ok(elapsedSince(started) < 3000, `${elapsedSince(started)} ms`);
    });

    it("refuses plain http:// unless the host is allowed, also after a redirect", async () => {
      await assert.rejects(send(`${base}/x.gguf`, { signal: never, policy: { ...policy, allowHttpHosts: [] }, what: "download the model" }), (error: Error) =>
        /Refusing http:\/\/127\.0\.0\.1:\d+\/x\.gguf: plain http:\/\/ .*streamsink\.download\.allowHttpHosts/.test(error.message),
      );
      await assert.rejects(open(`${base}/to-http.gguf`, { signal: never, policy, what: "download the model" }), (error: Error) =>
        /Refusing http:\/\/localhost:\d+\/x\.gguf \(redirected from http:\/\/127\.0\.0\.1:\d+\/to-http\.gguf\)/.test(error.message),
      );
      await assert.rejects(open(`${base}/to-ftp.gguf`, { signal: never, policy, what: "download the model" }), (error: Error) =>
        /only https:\/\/ addresses can be downloaded/.test(error.message),
      );
      assert.equal(seen.filter((entry) => entry.path === "/x.gguf").length, 0, "nothing was fetched over refused http");
    });

    it("Cancel ends every phase within 1 s: HEAD, manifest, redirects, body, backoff wait", async () => {
      const slow: NetPolicy = { ...policy, responseTimeoutMs: 60_000, idleTimeoutMs: 60_000 };
      let from = 0;
      let inPhase = false;
      const requested = (prefix: string) => seen.slice(from).filter((entry) => entry.path.startsWith(prefix)).length;
      // Each phase with the sign that it is under way (the request seen, the body or the wait begun).
      const phases: [string, (signal: AbortSignal) => Promise<unknown>, () => boolean][] = [
        ["HEAD", (signal) => send(`${base}/silent.gguf`, { method: "HEAD", signal, policy: slow, what: "x" }), () => requested("/silent.gguf") > 0],
        [
          "manifest",
          (signal) => open(`${base}/v2/hostile/Silent-GGUF/manifests/Q8_0`, { signal, policy: slow, what: "x" }),
          () => requested("/v2/hostile/Silent-GGUF/manifests/Q8_0") > 0,
        ],
        ["redirects", (signal) => open(`${base}/slow-loop/0`, { signal, policy: { ...slow, maxRedirects: 1000 }, what: "x" }), () => requested("/slow-loop/") >= 2],
        [
          "body",
          (signal) =>
            downloadBody({ url: `${base}/stall-body.gguf`, partPath: path.join(folder, "cancel.part"), signal, policy: slow, onProgress: () => (inPhase = true) }),
          () => inPhase,
        ],
        [
          "backoff",
          (signal) =>
            downloadBody({ url: `${base}/busy.gguf`, partPath: path.join(folder, "busy.part"), signal, policy: slow, backoffMs: 30_000, log: () => (inPhase = true) }),
          () => inPhase,
        ],
      ];
      for (const [phase, run, underWay] of phases) {
        const controller = new AbortController();
        from = seen.length;
        inPhase = false;
        const pending = run(controller.signal);
        await eventually(() => (underWay() ? true : undefined), { what: `the ${phase} phase` });
        const cancelled = performance.now();
        controller.abort();
        await assert.rejects(pending, (error: Error) => error.name === "AbortError", phase);
        assert.ok(elapsedSince(cancelled) < 1000, `${phase}: ended ${elapsedSince(cancelled)} ms after Cancel`);
      }
      assert.ok(count("/slow-loop/") >= 2, "the redirects phase was under way");
    });
  });

  describe("through the server process (shipped limits)", () => {
    let server: ServerHandle;
    const previousEndpoint = process.env.HF_ENDPOINT;
    const allowLocal = { ...testSettings({ path: "" }), download: { allowHttpHosts: ["127.0.0.1"] } };

    before(async () => {
      process.env.HF_ENDPOINT = `${base}/`;
      server = await startServer(allowLocal);
      await server.waitForStatus((status) => status.state === "noModel");
    });

    after(async () => {
      await server?.stop();
      if (previousEndpoint === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = previousEndpoint;
    });

    const params = (uri: string): DownloadModelParams => ({ uri, directory: folder, downloadId: `${uri}#${seen.length}` });
    const download = (uri: string, token?: CancellationTokenSource) =>
      server.connection.sendRequest(DownloadModelRequest.type, params(uri), token?.token);

    it("refuses http:// for a host the settings do not allow, naming the setting", async () => {
      await server.configure(testSettings({ path: "" }));
      try {
        await assert.rejects(download(`${base}/model.gguf`), (error: Error) =>
          /Refusing http:\/\/127\.0\.0\.1:\d+\/model\.gguf: plain http:\/\/ .*add "127\.0\.0\.1" to the setting streamsink\.download\.allowHttpHosts/.test(error.message),
        );
      } finally {
        await server.configure(allowLocal);
      }
    });

    it("never shows credentials from the address in the error or the log", async () => {
      const uri = `http://alice:hunter2secret@127.0.0.1:${new URL(base).port}/private/model.gguf?token=tok-abcdef123&rev=1`;
      await assert.rejects(download(uri), (error: Error) => {
        assert.match(error.message, /was not found \(HTTP 404\)/);
        assert.match(error.message, /http:\/\/\*\*\*(:\*\*\*)?@127\.0\.0\.1/);
        assert.doesNotMatch(error.message, /hunter2secret|tok-abcdef123|alice/);
        return true;
      });
      const log = server.logs.map((entry) => entry.message).join("\n");
      assert.match(log, /private\/model\.gguf/, "the failure was logged");
      assert.doesNotMatch(log, /hunter2secret|tok-abcdef123|alice/);
    });

    it("ends a redirect loop and an endless manifest with clear messages, the server bounded", async () => {
      let started = performance.now();
      await assert.rejects(download(`${base}/loop/100/model.gguf`), (error: Error) => /redirected more than 10 times/.test(error.message));
      assert.ok(elapsedSince(started) < 5000);
      started = performance.now();
      await assert.rejects(download("hf:hostile/Endless-GGUF:Q8_0"), (error: Error) =>
        /The answer to resolve hf:hostile\/Endless-GGUF:Q8_0 is larger than 1048576 bytes/.test(error.message),
      );
      assert.ok(elapsedSince(started) < 5000);
      const stats = await server.connection.sendRequest(bench.CompletionStatsRequest.type, {});
      assert.ok(stats.rssBytes < 500 * 1024 * 1024, `server RSS ${stats.rssBytes}`);
      assert.equal(server.process.exitCode, null, "the server is still running");
    });

    it("Cancel ends a download within 1 s while the manifest never comes, and during a backoff wait", async () => {
      const underWay: [string, (from: { seen: number; logs: number }) => boolean][] = [
        ["hf:hostile/Silent-GGUF:Q8_0", (from) => seen.slice(from.seen).some((entry) => entry.path === "/v2/hostile/Silent-GGUF/manifests/Q8_0")],
        // The backoff case: the first attempt has failed (HTTP 503) and the server waits 1 s.
        [`${base}/busy.gguf`, (from) => server.logs.slice(from.logs).some((entry) => /Download attempt 1 of \d+ failed.*trying again/.test(entry.message))],
      ];
      for (const [uri, started] of underWay) {
        const cancel = new CancellationTokenSource();
        const from = { seen: seen.length, logs: server.logs.length };
        const pending = download(uri, cancel);
        await eventually(() => (started(from) ? true : undefined), { what: `the download of ${uri} under way` });
        const cancelled = performance.now();
        cancel.cancel();
        await assert.rejects(pending, (error: Error) => /cancel/i.test(error.message));
        assert.ok(elapsedSince(cancelled) < 1000, `${uri}: ${elapsedSince(cancelled)} ms after Cancel`);
      }
      assert.ok(count("/busy.gguf") >= 1);
    });
  });
});

