// Every HTTP request a download makes goes through here, bounded: https only (plain http only for
// hosts the user allowed), a time limit to the response's headers (connect, TLS and the server's
// think time), an idle limit between body chunks, at most `maxRedirects` redirects, a size cap on
// bodies read into memory, and cancellation at any point. Credentials never reach a message.
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { redactUrl } from "../../../common/redact";
import { errorMessage } from "../../../common/errors";

export class DownloadError extends Error {
  constructor(
    message: string,
    /** Whether trying again could help (network trouble, a dropped connection, HTTP 5xx/429). */
    readonly retryable = false,
  ) {
    super(message);
    this.name = "DownloadError";
  }
}

export interface NetPolicy {
  /** Hosts (`name` or `name:port`) that may be reached over plain http://. */
  allowHttpHosts: readonly string[];
  /** Most ms from sending a request to its response's headers. */
  responseTimeoutMs: number;
  /** Most ms between two chunks of a body. */
  idleTimeoutMs: number;
  maxRedirects: number;
  /** The Authorization header for a URL (the hub's token for the hub's own origin), if any. */
  authorizationFor?: (url: URL) => string | undefined;
}

export const defaultNetPolicy: Omit<NetPolicy, "allowHttpHosts"> = {
  responseTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  maxRedirects: 10,
};

/** Largest manifest or other JSON answer read into memory. */
export const maxManifestBytes = 1024 * 1024;

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

export function abortError(): Error {
  return new DOMException("The download was cancelled.", "AbortError");
}

function hostAllowed(url: URL, hosts: readonly string[]): boolean {
  const host = url.host.toLowerCase();
  const name = url.hostname.toLowerCase();
  return hosts.some((allowed) => {
    const entry = allowed.trim().toLowerCase();
    return entry !== "" && (entry === host || entry === name);
  });
}

/** Throws unless `url` may be fetched: https, or http for a host the user allowed. */
export function checkScheme(url: URL, policy: Pick<NetPolicy, "allowHttpHosts">, redirectedFrom?: string): void {
  const via = redirectedFrom === undefined ? "" : ` (redirected from ${redactUrl(redirectedFrom)})`;
  if (url.protocol === "https:") return;
  if (url.protocol === "http:") {
    if (hostAllowed(url, policy.allowHttpHosts)) return;
    throw new DownloadError(
      `Refusing ${redactUrl(url.href)}${via}: plain http:// can be read and changed on the way. ` +
        `Use an https:// address, or, if you trust this host and the network to it, add "${url.hostname}" to the setting streamsink.download.allowHttpHosts.`,
    );
  }
  throw new DownloadError(`Refusing ${redactUrl(url.href)}${via}: only https:// addresses can be downloaded.`);
}

export interface SendOptions {
  method?: "GET" | "HEAD";
  headers?: Record<string, string>;
  signal: AbortSignal;
  policy: NetPolicy;
  /** What the request is for, in words ("resolve the model", "download the model"). */
  what: string;
}

function networkError(url: URL, what: string, error: unknown): DownloadError {
  if (error instanceof DownloadError) return error;
  const code = (error as { code?: string }).code;
  const reason = code ?? errorMessage(error);
  return new DownloadError(
    `Cannot reach ${url.host} to ${what} (${reason}). Check the address and your network connection.`,
    true,
  );
}

/** One request, no redirects followed; resolves with the response once its headers arrived. */
export function send(target: string | URL, options: SendOptions): Promise<IncomingMessage> {
  let url: URL;
  try {
    url = typeof target === "string" ? new URL(target) : target;
    checkScheme(url, options.policy);
  } catch (error) {
    return Promise.reject(error instanceof DownloadError ? error : new DownloadError(`${redactUrl(String(target))} is not a valid address.`));
  }
  const { signal, policy, what } = options;
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<IncomingMessage>((resolve, reject) => {
    const headers: Record<string, string> = { "user-agent": "StreamSink", ...options.headers };
    const authorization = policy.authorizationFor?.(url);
    if (authorization !== undefined) headers.authorization = authorization;
    const request = (url.protocol === "https:" ? https : http).request(url, { method: options.method ?? "GET", headers, agent: false });
    let settled = false;
    const finish = (error: Error | undefined, response?: IncomingMessage) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      if (error !== undefined) {
        request.destroy();
        reject(error);
      } else resolve(response!);
    };
    const onAbort = () => finish(abortError());
    const timer = setTimeout(
      () =>
        finish(
          new DownloadError(
            `${url.host} did not answer within ${duration(policy.responseTimeoutMs)} when asked to ${what}. ` +
              `The host may be down or overloaded: try again later, or check the address.`,
            true,
          ),
        ),
      policy.responseTimeoutMs,
    );
    signal.addEventListener("abort", onAbort, { once: true });
    request.on("error", (error) => finish(signal.aborted ? abortError() : networkError(url, what, error)));
    request.on("response", (response) => {
      if (settled) {
        response.destroy();
        return;
      }
      // From here on the body is bounded by the idle limit and by the caller's signal.
      response.setTimeout(policy.idleTimeoutMs, () =>
        response.destroy(
          new DownloadError(
            `${url.host} stopped sending for ${duration(policy.idleTimeoutMs)} while asked to ${what}. Check your network and try again.`,
            true,
          ),
        ),
      );
      const onBodyAbort = () => response.destroy(abortError());
      signal.addEventListener("abort", onBodyAbort, { once: true });
      response.once("close", () => signal.removeEventListener("abort", onBodyAbort));
      finish(undefined, response);
    });
    request.end();
  });
}

export interface Opened {
  response: IncomingMessage;
  /** The URL that answered, after redirects. */
  url: URL;
  redirects: number;
}

/** A request that follows up to policy.maxRedirects redirects, checking each hop's scheme. */
export async function open(target: string, options: SendOptions): Promise<Opened> {
  const first = new URL(target);
  let url = first;
  for (let redirects = 0; ; redirects++) {
    const response = await send(url, options);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (status < 300 || status >= 400 || location === undefined) return { response, url, redirects };
    response.destroy();
    if (redirects >= options.policy.maxRedirects) {
      throw new DownloadError(
        `${redactUrl(first.href)} redirected more than ${options.policy.maxRedirects} times (the last time to ${url.host}): a redirect loop. ` +
          `Check the address; if it is right, the server is misconfigured, so try again later.`,
      );
    }
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new DownloadError(`${url.host} redirected to an invalid address when asked to ${options.what}. Check the address.`);
    }
    checkScheme(next, options.policy, url.href);
    url = next;
  }
}

/** Reads a whole (small) body into memory, refusing more than `maxBytes`. */
export async function readCapped(response: IncomingMessage, maxBytes: number, what: string): Promise<Buffer> {
  const tooLarge = () =>
    new DownloadError(
      `The answer to ${what} is larger than ${maxBytes} bytes, far more than it can be. ` +
        `Check the address (and HF_ENDPOINT if you set it); the server may be broken.`,
    );
  const declared = Number(response.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      response.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Waits `ms`, or rejects at once when the signal aborts. */
export function cancellableWait(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
