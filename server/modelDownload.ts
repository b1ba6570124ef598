// Model downloads, run in the server process so the extension host never loads native modules:
// resolves `hf:` URIs, downloads with node-llama-cpp's downloader (ipull: parallel ranges, retries,
// resumable `.ipull` partial files), then checks size, SHA-256 and the GGUF header before the file
// replaces anything. A failed or corrupted download never touches a model that is already there.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import {
  LSPErrorCodes,
  ResponseError,
  type CancellationToken,
  type Connection,
} from "vscode-languageserver/node";
import {
  fileUri,
  fileUrl,
  huggingFaceEndpoint,
  isSha256,
  isSplitPart,
  localFileName,
  manifestUrl,
  ModelUriError,
  parseModelAddress,
  sha256FromEtag,
  type ModelAddress,
} from "../common/modelUri";
import {
  DownloadModelRequest,
  DownloadProgressNotification,
  ErrorCodes,
  type DownloadModelParams,
  type DownloadModelResult,
  type DownloadProgress,
} from "../common/protocol";
import { isRecord, isString } from "../common/validate";
import { loadLlamaCpp } from "./llamaRuntime";
import { errorMessage, type Logger } from "./log";
import { checkModelFile } from "./modelFile";

/** Sub-folder of the models folder that holds downloads in progress (and their resumable parts). */
export const partialFolder = ".partial";

export class DownloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DownloadError";
  }
}

interface RemoteFacts {
  /** What is handed to node-llama-cpp's downloader. */
  downloaderUri: string;
  url: string;
  fileName: string;
  expectedSize?: number;
  expectedSha256?: string;
  checksumSource: DownloadModelResult["checksumSource"];
}

function validParams(params: unknown): params is DownloadModelParams {
  return (
    isRecord(params) &&
    isString(params.uri, 4096) &&
    isString(params.directory, 4096) &&
    path.isAbsolute(params.directory) &&
    isString(params.downloadId, 200) &&
    (params.sha256 === undefined || isSha256(params.sha256))
  );
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

async function request(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(30_000) });
  } catch (error) {
    if (init.signal?.aborted) throw error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new DownloadError(
      `Cannot reach ${hostOf(url)} to ${what} (${cause?.code ?? cause?.message ?? errorMessage(error)}). ` +
        `Check the address and your network connection.`,
    );
  }
}

/** Finds the file behind the address and what the server says about it (size, checksum). */
async function resolveRemote(address: ModelAddress, givenSha: string | undefined, signal: AbortSignal): Promise<RemoteFacts> {
  const endpoint = huggingFaceEndpoint(process.env);
  let file: Exclude<ModelAddress, { kind: "hf-tag" }>;
  if (address.kind === "hf-tag") {
    const url = manifestUrl(address, endpoint);
    const response = await request(url, { headers: { "User-Agent": "llama-cpp" }, signal }, "resolve the model");
    if (response.status === 404 || response.status === 400) {
      throw new DownloadError(
        `hf:${address.user}/${address.repo} has no "${address.tag}" quantization, or the repository does not exist (HTTP ${response.status}).`,
      );
    }
    if (response.status === 401 || response.status === 403) {
      throw new DownloadError(
        `hf:${address.user}/${address.repo} needs access rights (HTTP ${response.status}): accept its license on the hub and set HF_TOKEN.`,
      );
    }
    if (!response.ok) throw new DownloadError(`The hub could not resolve hf:${address.user}/${address.repo}:${address.tag} (HTTP ${response.status}).`);
    const manifest = (await response.json().catch(() => undefined)) as { ggufFile?: { rfilename?: unknown } } | undefined;
    const rfilename = manifest?.ggufFile?.rfilename;
    if (typeof rfilename !== "string" || !/\.gguf$/i.test(rfilename)) {
      throw new DownloadError(`The hub's answer for hf:${address.user}/${address.repo}:${address.tag} names no GGUF file.`);
    }
    file = { kind: "hf-file", user: address.user, repo: address.repo, file: rfilename, branch: "main" };
  } else {
    file = address;
  }
  const url = fileUrl(file, endpoint);
  const facts: RemoteFacts = {
    downloaderUri: file.kind === "hf-file" ? fileUri(file) : url,
    url,
    fileName: localFileName(file),
    expectedSha256: givenSha?.toLowerCase(),
    checksumSource: givenSha ? "given" : "none",
  };
  // HEAD without following redirects: the hub answers with a redirect to its CDN that carries the
  // file's size and SHA-256 (X-Linked-Size / X-Linked-ETag) for LFS files.
  const head = await request(url, { method: "HEAD", redirect: "manual", signal }, "download the model");
  if (head.status === 404 || head.status === 410) throw new DownloadError(`${url} was not found (HTTP ${head.status}).`);
  if (head.status === 401 || head.status === 403) {
    throw new DownloadError(`${url} needs access rights (HTTP ${head.status}). For gated hub models accept the license and set HF_TOKEN.`);
  }
  const linkedSize = Number(head.headers.get("x-linked-size"));
  const contentLength = Number(head.headers.get("content-length"));
  if (Number.isFinite(linkedSize) && linkedSize > 0) facts.expectedSize = linkedSize;
  else if (head.status >= 200 && head.status < 300 && Number.isFinite(contentLength) && contentLength > 0) {
    facts.expectedSize = contentLength;
  }
  const hubSha = sha256FromEtag(head.headers.get("x-linked-etag"));
  if (!facts.expectedSha256 && hubSha && !isSplitPart(file.kind === "hf-file" ? file.file : url)) {
    facts.expectedSha256 = hubSha;
    facts.checksumSource = "hub";
  }
  return facts;
}

export async function sha256OfFile(filePath: string, onBytes?: (bytes: number) => void): Promise<string> {
  const hash = createHash("sha256");
  let seen = 0;
  for await (const chunk of createReadStream(filePath, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    seen += (chunk as Buffer).length;
    onBytes?.(seen);
  }
  return hash.digest("hex");
}

async function sizeOf(filePath: string): Promise<number | undefined> {
  try {
    const info = await stat(filePath);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

function abortSignalFor(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

export function registerModelDownloads(connection: Connection, log: Logger): void {
  const active = new Set<string>();

  connection.onRequest(DownloadModelRequest.type, async (params, token): Promise<DownloadModelResult> => {
    if (!validParams(params)) {
      throw new ResponseError(
        ErrorCodes.invalidParams,
        "streamsink/downloadModel needs {uri: string, directory: absolute path, downloadId: string, sha256?: 64 hex digits}.",
      );
    }
    const signal = abortSignalFor(token);
    let lastSent = 0;
    const progress = (update: Omit<DownloadProgress, "downloadId">, force = false) => {
      const now = Date.now();
      if (!force && now - lastSent < 200) return;
      lastSent = now;
      void connection.sendNotification(DownloadProgressNotification.type, { downloadId: params.downloadId, ...update });
    };
    let owned: string | undefined;
    try {
      const address = parseModelAddress(params.uri);
      progress({ phase: "resolving", downloadedBytes: 0, totalBytes: 0 }, true);
      const remote = await resolveRemote(address, params.sha256, signal);
      const finalPath = path.join(params.directory, remote.fileName);
      if (active.has(finalPath)) throw new DownloadError(`${remote.fileName} is already being downloaded.`);
      active.add(finalPath);
      owned = finalPath;
      log.info(
        `Downloading ${params.uri} → ${finalPath} (${remote.expectedSize ?? "unknown"} bytes, checksum: ${remote.checksumSource}).`,
      );

      // Already there and verified: nothing to download.
      const existingSize = await sizeOf(finalPath);
      if (existingSize !== undefined && remote.expectedSize === existingSize) {
        const existingSha = remote.expectedSha256 ? await sha256OfFile(finalPath) : undefined;
        if (!remote.expectedSha256 || existingSha === remote.expectedSha256) {
          log.info(`${finalPath} is already downloaded and matches the remote file.`);
          return {
            path: finalPath,
            sizeBytes: existingSize,
            sha256: existingSha ?? (await sha256OfFile(finalPath)),
            checksumSource: remote.checksumSource,
            resumed: false,
            alreadyPresent: true,
          };
        }
      }

      const staging = path.join(params.directory, partialFolder);
      await mkdir(staging, { recursive: true });
      const stagedPath = path.join(staging, remote.fileName);
      const resumed = (await sizeOf(`${stagedPath}.ipull`)) !== undefined;
      // A finished but unverified file from an earlier run is not trusted: start it over.
      await rm(stagedPath, { force: true });
      const llamaCpp = await loadLlamaCpp();
      const downloader = await llamaCpp.createModelDownloader({
        modelUri: remote.downloaderUri,
        dirPath: staging,
        fileName: remote.fileName,
        skipExisting: false,
        deleteTempFileOnCancel: false,
        showCliProgress: false,
        onProgress: ({ downloadedSize, totalSize }) =>
          progress({ phase: "downloading", downloadedBytes: downloadedSize, totalBytes: totalSize }),
      });
      if (downloader.totalFiles !== 1) {
        await downloader.cancel({ deleteTempFile: true });
        throw new DownloadError(`${params.uri} is split into ${downloader.totalFiles} files; StreamSink downloads single-file GGUF models.`);
      }
      const downloaded = await downloader.download({ signal });
      // ipull ends a cancelled transfer quietly: never verify (and delete) a partial file.
      if (signal.aborted) throw new DownloadError("cancelled");
      progress({ phase: "verifying", downloadedBytes: downloader.downloadedSize, totalBytes: downloader.totalSize }, true);

      // Verify before anything is replaced.
      const size = (await sizeOf(downloaded)) ?? 0;
      const expectedSize = remote.expectedSize ?? (downloader.totalSize > 0 ? downloader.totalSize : undefined);
      const corrupted = async (why: string): Promise<never> => {
        await rm(downloaded, { force: true });
        await rm(`${downloaded}.ipull`, { force: true });
        throw new DownloadError(
          `The download of ${params.uri} is corrupted: ${why}. It was deleted` +
            `${existingSize !== undefined ? `; the model already at ${finalPath} is unchanged` : ""}. Run “StreamSink: Download Model” again.`,
        );
      };
      if (expectedSize !== undefined && size !== expectedSize) {
        await corrupted(`it has ${size} bytes but the server announced ${expectedSize}`);
      }
      const sha256 = await sha256OfFile(downloaded, (bytes) =>
        progress({ phase: "verifying", downloadedBytes: bytes, totalBytes: size }),
      );
      if (remote.expectedSha256 && sha256 !== remote.expectedSha256) {
        await corrupted(`its SHA-256 is ${sha256} but ${remote.checksumSource === "hub" ? "the hub" : "you"} gave ${remote.expectedSha256}`);
      }
      try {
        await checkModelFile(llamaCpp, downloaded);
      } catch (error) {
        await corrupted(errorMessage(error));
      }
      await rename(downloaded, finalPath);
      log.info(`Downloaded and verified ${finalPath} (${size} bytes, sha256 ${sha256}${resumed ? ", resumed" : ""}).`);
      return { path: finalPath, sizeBytes: size, sha256, checksumSource: remote.checksumSource, resumed, alreadyPresent: false };
    } catch (error) {
      if (signal.aborted) {
        log.info(`Download of ${params.uri} cancelled; the partial file is kept to resume later.`);
        throw new ResponseError(LSPErrorCodes.RequestCancelled, "Download cancelled. Download the same model again to resume it.");
      }
      if (error instanceof ResponseError) throw error;
      const message =
        error instanceof ModelUriError || error instanceof DownloadError
          ? error.message
          : `Downloading ${params.uri} failed: ${errorMessage(error)}. Run “StreamSink: Download Model” again to resume.`;
      log.error(message);
      throw new ResponseError(-32_603, message);
    } finally {
      if (owned) active.delete(owned);
    }
  });
}
