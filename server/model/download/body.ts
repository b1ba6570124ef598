// The body of a model download, written to a partial file: the declared size must be what arrives
// (and never more than the single-file cap), a dropped or stalled connection is retried with
// exponential backoff up to a budget, and continued with a Range request where the server allows
// it. Whatever happens, the caller gets either a complete file or an error; Cancel ends every
// phase (request, body, backoff) at once.
import { open as openFile, rm, stat, truncate } from "node:fs/promises";
import { abortError, cancellableWait, DownloadError, open, type NetPolicy } from "./http";
import { redactUrl } from "../../../common/redact";
import { errorMessage } from "../../../common/errors";

/**
 * Largest model file accepted. The Hugging Face hub stores no file over 50 GB (larger models are
 * split into parts, which StreamSink does not download), so a single GGUF beyond 64 GiB is not a
 * model: a body without Content-Length stops here at the latest.
 */
export const maxModelBytes = 64 * 1024 ** 3;

export interface BodyOptions {
  url: string;
  /** The partial file; bytes already in it are continued with a Range request. */
  partPath: string;
  /** The size the server announced before (HEAD), if any. */
  expectedSize?: number;
  maxBytes?: number;
  signal: AbortSignal;
  policy: NetPolicy;
  /** Attempts in all (the first one included). */
  attempts?: number;
  /** First backoff wait; doubled after each failed attempt. */
  backoffMs?: number;
  onProgress?: (bytes: number, total: number | undefined) => void;
  log?: (message: string) => void;
}

export interface BodyResult {
  size: number;
  /** Bytes that were already in the partial file and were kept (a resumed download). */
  resumedFrom: number;
  attempts: number;
}

export const defaultAttempts = 5;
export const defaultBackoffMs = 1000;

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

function parseContentRange(header: string | undefined): { start: number; total?: number } | undefined {
  const match = header === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim());
  if (match === null) return undefined;
  return { start: Number(match[1]), total: match[3] === "*" ? undefined : Number(match[3]) };
}

function statusError(status: number, url: string): DownloadError {
  const shown = redactUrl(url);
  if (status === 404 || status === 410) return new DownloadError(`${shown} was not found (HTTP ${status}). Check the address.`);
  if (status === 401 || status === 403) {
    return new DownloadError(`${shown} needs access rights (HTTP ${status}). For gated hub models accept the license and set HF_TOKEN.`);
  }
  const retryable = status === 408 || status === 429 || status >= 500;
  return new DownloadError(
    `The server answered HTTP ${status} for ${shown}${retryable ? " (busy or failing): try again later." : ". Check the address."}`,
    retryable,
  );
}

/** One attempt: continues the partial file from its current size. */
async function attempt(options: BodyOptions, cap: number, state: { total?: number; resumable: boolean }): Promise<number> {
  let have = await sizeOf(options.partPath);
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (have > 0) headers.range = `bytes=${have}-`;
  const { response } = await open(options.url, { headers, signal: options.signal, policy: options.policy, what: "download the model" });
  const status = response.statusCode ?? 0;
  try {
    if (status === 416 && have > 0 && state.total === have) return have;
    if (status === 416) {
      await truncate(options.partPath, 0);
      throw new DownloadError(`The server refused to continue the download at byte ${have}; starting over.`, true);
    }
    if (status < 200 || status >= 300) throw statusError(status, options.url);
    const declaredLength = Number(response.headers["content-length"]);
    const length = Number.isFinite(declaredLength) && response.headers["content-length"] !== undefined ? declaredLength : undefined;
    let start = 0;
    if (status === 206) {
      const range = parseContentRange(response.headers["content-range"]);
      if (range === undefined || range.start !== have) {
        await truncate(options.partPath, 0);
        throw new DownloadError("The server sent another part of the file than asked for; starting over.", true);
      }
      start = range.start;
      state.resumable = true;
      if (range.total !== undefined) state.total ??= range.total;
      if (range.total !== undefined && range.total !== state.total) {
        throw new DownloadError(
          `The file changed on the server during the download (${range.total} bytes now, ${state.total} before). Download it again.`,
        );
      }
    } else {
      // 200: the whole file from its start (a server without Range support answers so too).
      if (have > 0) options.log?.(`${redactUrl(options.url)} does not continue partial downloads: starting over.`);
      have = 0;
      state.resumable = /bytes/i.test(String(response.headers["accept-ranges"] ?? ""));
      if (length !== undefined) {
        if (state.total !== undefined && state.total !== length) {
          throw new DownloadError(
            `${redactUrl(options.url)} now has ${length} bytes, but the server announced ${state.total} before. The file changed on the server: download it again.`,
          );
        }
        state.total = length;
      }
    }
    if (state.total !== undefined && state.total > cap) {
      throw new DownloadError(
        `${redactUrl(options.url)} has ${state.total} bytes, more than the ${cap} bytes a single-file GGUF model can have. Check the address.`,
      );
    }
    if (status === 206 && length !== undefined && state.total !== undefined && start + length !== state.total) {
      throw new DownloadError("The server's Content-Length does not match its Content-Range. Try again later.", true);
    }
    const file = await openFile(options.partPath, have > 0 ? "a" : "w");
    try {
      const limit = state.total ?? cap;
      for await (const chunk of response) {
        const bytes = chunk as Buffer;
        if (have + bytes.length > limit) {
          throw new DownloadError(
            state.total === undefined
              ? `${redactUrl(options.url)} sent more than ${cap} bytes without announcing its size: not a single-file model. Check the address.`
              : `${redactUrl(options.url)} sent more than the ${state.total} bytes it announced. The server is broken or the file changed: download it again later.`,
          );
        }
        await file.write(bytes);
        have += bytes.length;
        options.onProgress?.(have, state.total);
      }
    } catch (error) {
      if (error instanceof DownloadError || options.signal.aborted) throw error;
      const code = (error as { code?: string }).code ?? errorMessage(error);
      throw new DownloadError(`The connection dropped after ${have}${state.total === undefined ? "" : ` of ${state.total}`} bytes (${code}).`, true);
    } finally {
      await file.close();
    }
    if (state.total !== undefined && have < state.total) {
      throw new DownloadError(`The connection ended after ${have} of ${state.total} bytes.`, true);
    }
    return have;
  } finally {
    response.destroy();
  }
}

/** Downloads `url` into `partPath` (continuing what is there); resolves with the final size. */
export async function downloadBody(options: BodyOptions): Promise<BodyResult> {
  const cap = options.maxBytes ?? maxModelBytes;
  const attempts = options.attempts ?? defaultAttempts;
  const backoff = options.backoffMs ?? defaultBackoffMs;
  const resumedFrom = await sizeOf(options.partPath);
  const state: { total?: number; resumable: boolean } = { total: options.expectedSize, resumable: false };
  for (let tried = 1; ; tried++) {
    try {
      const size = await attempt(options, cap, state);
      return { size, resumedFrom: state.resumable ? resumedFrom : 0, attempts: tried };
    } catch (error) {
      if (options.signal.aborted) throw abortError();
      if (!(error instanceof DownloadError) || !error.retryable) {
        // What was received is not part of a model (too large, changed, refused): never keep it.
        await rm(options.partPath, { force: true });
        throw error;
      }
      const got = await sizeOf(options.partPath);
      if (tried >= attempts) {
        if (!state.resumable) await rm(options.partPath, { force: true });
        throw new DownloadError(
          `Downloading ${redactUrl(options.url)} failed ${attempts} times; the last time: ${error.message} ` +
            (state.resumable && got > 0
              ? `The ${got} bytes received are kept: run “StreamSink: Download Model” again to continue.`
              : `Check your network and run “StreamSink: Download Model” again.`),
        );
      }
      const wait = backoff * 2 ** (tried - 1);
      options.log?.(`Download attempt ${tried} of ${attempts} failed (${error.message}); trying again in ${wait} ms${state.resumable ? ` from byte ${got}` : ""}.`);
      await cancellableWait(wait, options.signal);
    }
  }
}
