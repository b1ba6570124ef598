// Model downloads, run in the server process so the extension host never loads native modules:
// resolves `hf:` URIs, downloads over bounded HTTP (server/download/: https only unless allowed,
// timeouts on every request, a redirect limit, capped manifests, a declared-size-or-cap rule for
// the body, retries with backoff and Range resume, Cancel in every phase, credentials redacted),
// then checks size, SHA-256 and the GGUF header before the file replaces anything. The file is
// written under a temporary name; a partial or failed download is never taken as a model.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  ResponseError,
  type CancellationToken,
  type Connection,
} from "vscode-languageserver/node";
import {
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
import type { DownloadSettings } from "../common/settings";
import { check, object, optional, refine, string, withMessage } from "../common/validate";
import { downloadBody } from "./download/body";
import { defaultNetPolicy, DownloadError, maxManifestBytes, open, readCapped, send, type NetPolicy } from "./download/http";
import { redactText, redactUrl, secretsOf } from "../common/redact";
import { loadLlamaCpp } from "./llamaRuntime";
import { errorMessage, type Logger } from "./log";
import { checkModelFile } from "./modelFile";

export { DownloadError } from "./download/http";

/** Sub-folder of the models folder that holds downloads in progress (and their resumable parts). */
export const partialFolder = ".partial";

interface RemoteFacts {
  url: string;
  fileName: string;
  expectedSize?: number;
  expectedSha256?: string;
  checksumSource: DownloadModelResult["checksumSource"];
}

const downloadParams = withMessage(
  object({
    uri: string(4096),
    directory: refine(string(4096), (directory) => path.isAbsolute(directory), "must be an absolute path"),
    downloadId: string(200),
    sha256: optional(refine(string(), isSha256, "must be 64 hex digits")),
  }),
  "streamsink/downloadModel needs {uri: string, directory: absolute path, downloadId: string, sha256?: 64 hex digits}.",
);

/** The hub's token (HF_TOKEN) for the hub's own origin only: never sent to its CDN or elsewhere. */
function hubAuthorization(endpoint: string): (url: URL) => string | undefined {
  const token = process.env.HF_TOKEN?.trim();
  let origin: string | undefined;
  try {
    origin = new URL(endpoint).origin;
  } catch {
    origin = undefined;
  }
  return (url) => (token && url.origin === origin ? `Bearer ${token}` : undefined);
}

/** Finds the file behind the address and what the server says about it (size, checksum). */
async function resolveRemote(
  address: ModelAddress,
  givenSha: string | undefined,
  signal: AbortSignal,
  policy: NetPolicy,
): Promise<RemoteFacts> {
  const endpoint = huggingFaceEndpoint(process.env);
  let file: Exclude<ModelAddress, { kind: "hf-tag" }>;
  if (address.kind === "hf-tag") {
    const url = manifestUrl(address, endpoint);
    const { response } = await open(url, { signal, policy, what: "resolve the model" });
    if (response.statusCode !== 200) response.destroy();
    const status = response.statusCode ?? 0;
    if (status === 404 || status === 400) {
      throw new DownloadError(
        `hf:${address.user}/${address.repo} has no "${address.tag}" quantization, or the repository does not exist (HTTP ${status}).`,
      );
    }
    if (status === 401 || status === 403) {
      throw new DownloadError(
        `hf:${address.user}/${address.repo} needs access rights (HTTP ${status}): accept its license on the hub and set HF_TOKEN.`,
      );
    }
    if (status !== 200) throw new DownloadError(`The hub could not resolve hf:${address.user}/${address.repo}:${address.tag} (HTTP ${status}). Try again later.`);
    const body = await readCapped(response, maxManifestBytes, `resolve hf:${address.user}/${address.repo}:${address.tag}`);
    let manifest: { ggufFile?: { rfilename?: unknown } } | undefined;
    try {
      manifest = JSON.parse(body.toString("utf8")) as typeof manifest;
    } catch {
      manifest = undefined;
    }
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
    url,
    fileName: localFileName(file),
    expectedSha256: givenSha?.toLowerCase(),
    checksumSource: givenSha ? "given" : "none",
  };
  // HEAD without following redirects: the hub answers with a redirect to its CDN that carries the
  // file's size and SHA-256 (X-Linked-Size / X-Linked-ETag) for LFS files.
  const head = await send(url, { method: "HEAD", signal, policy, what: "look up the model's size" });
  head.destroy();
  const status = head.statusCode ?? 0;
  const shown = redactUrl(url);
  if (status === 404 || status === 410) throw new DownloadError(`${shown} was not found (HTTP ${status}). Check the address.`);
  if (status === 401 || status === 403) {
    throw new DownloadError(`${shown} needs access rights (HTTP ${status}). For gated hub models accept the license and set HF_TOKEN.`);
  }
  const header = (name: string): string | null => {
    const value = head.headers[name];
    return typeof value === "string" ? value : null;
  };
  const linkedSize = Number(header("x-linked-size"));
  const contentLength = Number(header("content-length"));
  if (Number.isFinite(linkedSize) && linkedSize > 0) facts.expectedSize = linkedSize;
  else if (status >= 200 && status < 300 && Number.isFinite(contentLength) && contentLength > 0) {
    facts.expectedSize = contentLength;
  }
  const hubSha = sha256FromEtag(header("x-linked-etag"));
  if (!facts.expectedSha256 && hubSha && !isSplitPart(file.kind === "hf-file" ? file.file : url)) {
    facts.expectedSha256 = hubSha;
    facts.checksumSource = "hub";
  }
  return facts;
}

export async function sha256OfFile(filePath: string, onBytes?: (bytes: number) => void, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  let seen = 0;
  // The signal ends the read between chunks (Cancel while a many-GB file is verified).
  for await (const chunk of createReadStream(filePath, { highWaterMark: 4 * 1024 * 1024, signal })) {
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

/** What a kept partial file is a part of: continued only when the next download is the same file. */
interface PartInfo {
  source: string;
  expectedSize: number | null;
  expectedSha256: string | null;
}

async function keptPart(partPath: string, info: PartInfo): Promise<boolean> {
  try {
    const kept = JSON.parse(await readFile(`${partPath}.json`, "utf8")) as Partial<PartInfo>;
    if (kept.source === info.source && kept.expectedSize === info.expectedSize && kept.expectedSha256 === info.expectedSha256) {
      return (await sizeOf(partPath)) !== undefined;
    }
  } catch {
    // No (readable) record: the part cannot be trusted.
  }
  await rm(partPath, { force: true });
  await writeFile(`${partPath}.json`, JSON.stringify(info));
  return false;
}

export function registerModelDownloads(
  connection: Connection,
  log: Logger,
  settings: () => DownloadSettings | undefined,
): void {
  const active = new Set<string>();

  connection.onRequest(DownloadModelRequest.type, async (raw, token): Promise<DownloadModelResult> => {
    const checked = check(downloadParams, raw);
    if (!checked.ok) throw new ResponseError(ErrorCodes.invalidParams, checked.message);
    const params: DownloadModelParams = checked.value;
    const signal = abortSignalFor(token);
    const shown = redactUrl(params.uri);
    const secrets = secretsOf(params.uri);
    const policy: NetPolicy = {
      ...defaultNetPolicy,
      allowHttpHosts: settings()?.allowHttpHosts ?? [],
      authorizationFor: hubAuthorization(huggingFaceEndpoint(process.env)),
    };
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
      const remote = await resolveRemote(address, params.sha256, signal, policy);
      const finalPath = path.join(params.directory, remote.fileName);
      if (active.has(finalPath)) throw new DownloadError(`${remote.fileName} is already being downloaded.`);
      active.add(finalPath);
      owned = finalPath;
      log.info(`Downloading ${shown} → ${finalPath} (${remote.expectedSize ?? "unknown"} bytes, checksum: ${remote.checksumSource}).`);

      // Already there and verified: nothing to download.
      const existingSize = await sizeOf(finalPath);
      if (existingSize !== undefined && remote.expectedSize === existingSize) {
        const existingSha = remote.expectedSha256 ? await sha256OfFile(finalPath, undefined, signal) : undefined;
        if (!remote.expectedSha256 || existingSha === remote.expectedSha256) {
          log.info(`${finalPath} is already downloaded and matches the remote file.`);
          return {
            path: finalPath,
            sizeBytes: existingSize,
            sha256: existingSha ?? (await sha256OfFile(finalPath, undefined, signal)),
            checksumSource: remote.checksumSource,
            resumed: false,
            alreadyPresent: true,
          };
        }
      }

      const staging = path.join(params.directory, partialFolder);
      await mkdir(staging, { recursive: true });
      // The download's temporary name: only a checked file is renamed to the model's name.
      const partPath = path.join(staging, `${remote.fileName}.part`);
      const source = createHash("sha256").update(remote.url).digest("hex");
      await keptPart(partPath, {
        source,
        expectedSize: remote.expectedSize ?? null,
        expectedSha256: remote.expectedSha256 ?? null,
      });
      const body = await downloadBody({
        url: remote.url,
        partPath,
        expectedSize: remote.expectedSize,
        signal,
        policy,
        onProgress: (bytes, total) => progress({ phase: "downloading", downloadedBytes: bytes, totalBytes: total ?? 0 }),
        log: (message) => log.warn(redactText(message, secrets)),
      });
      if (signal.aborted) throw new DownloadError("cancelled");
      const resumed = body.resumedFrom > 0;
      progress({ phase: "verifying", downloadedBytes: body.size, totalBytes: body.size }, true);

      // Verify before anything is replaced.
      const size = (await sizeOf(partPath)) ?? 0;
      const corrupted = async (why: string): Promise<never> => {
        await rm(partPath, { force: true });
        await rm(`${partPath}.json`, { force: true });
        throw new DownloadError(
          `The download of ${shown} is corrupted: ${why}. It was deleted` +
            `${existingSize !== undefined ? `; the model already at ${finalPath} is unchanged` : ""}. Run “StreamSink: Download Model” again.`,
        );
      };
      if (remote.expectedSize !== undefined && size !== remote.expectedSize) {
        await corrupted(`it has ${size} bytes but the server announced ${remote.expectedSize}`);
      }
      const sha256 = await sha256OfFile(partPath, (bytes) => progress({ phase: "verifying", downloadedBytes: bytes, totalBytes: size }), signal);
      if (remote.expectedSha256 && sha256 !== remote.expectedSha256) {
        await corrupted(`its SHA-256 is ${sha256} but ${remote.checksumSource === "hub" ? "the hub" : "you"} gave ${remote.expectedSha256}`);
      }
      const llamaCpp = await loadLlamaCpp();
      try {
        await checkModelFile(llamaCpp, partPath);
      } catch (error) {
        await corrupted(errorMessage(error));
      }
      await rename(partPath, finalPath);
      await rm(`${partPath}.json`, { force: true });
      log.info(`Downloaded and verified ${finalPath} (${size} bytes, sha256 ${sha256}${resumed ? `, resumed at byte ${body.resumedFrom}` : ""}).`);
      return { path: finalPath, sizeBytes: size, sha256, checksumSource: remote.checksumSource, resumed, alreadyPresent: false };
    } catch (error) {
      if (signal.aborted) {
        log.info(`Download of ${shown} cancelled; what was received is kept to resume later.`);
        throw new ResponseError(ErrorCodes.requestCancelled, "Download cancelled. Download the same model again to resume it.");
      }
      if (error instanceof ResponseError) throw error;
      const message = redactText(
        error instanceof ModelUriError || error instanceof DownloadError
          ? error.message
          : `Downloading ${shown} failed: ${errorMessage(error)}. Run “StreamSink: Download Model” again to resume.`,
        secrets,
      );
      log.error(message);
      throw new ResponseError(ErrorCodes.internalError, message);
    } finally {
      if (owned) active.delete(owned);
    }
  });
}
