// Model download addresses: `hf:` URIs (Hugging Face) and http(s) URLs of .gguf files. Parsed here
// (pure, shared by the client's input box and the server) so a typo gets a clear message before any
// network request, and so the server can find the hub's checksum of the exact file it downloads.
// The forms follow node-llama-cpp's own (`hf:<user>/<repo>:<quant>`, `hf:<user>/<repo>/<file>#<branch>`).

export type ModelAddress =
  | { kind: "hf-tag"; user: string; repo: string; tag: string }
  | { kind: "hf-file"; user: string; repo: string; file: string; branch: string }
  | { kind: "url"; url: string };

export class ModelUriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelUriError";
  }
}

const examples =
  "Use hf:<user>/<repo>:<quant> (e.g. hf:bartowski/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M), " +
  "hf:<user>/<repo>/<file>.gguf, or an https:// URL of a .gguf file.";

const namePart = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Parses a model address; throws ModelUriError with an example of what is accepted. */
export function parseModelAddress(input: string): ModelAddress {
  const text = input.trim();
  if (text === "") throw new ModelUriError(`No model address given. ${examples}`);
  const hfPrefix = ["hf://", "huggingface://", "hf:", "huggingface:"].find((prefix) => text.toLowerCase().startsWith(prefix));
  if (hfPrefix !== undefined) return parseHuggingFace(text.slice(hfPrefix.length), text);
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new ModelUriError(`"${text}" is not a valid URL. ${examples}`);
    }
    if (!/\.gguf$/i.test(decodeURIComponent(url.pathname))) {
      throw new ModelUriError(`${text} does not point to a .gguf file. ${examples}`);
    }
    return { kind: "url", url: url.href };
  }
  throw new ModelUriError(`"${text}" is not a model address StreamSink can download. ${examples}`);
}

function parseHuggingFace(rest: string, original: string): ModelAddress {
  const [user = "", repoAndTag = "", ...fileParts] = rest.split("/");
  if (fileParts.length === 0) {
    const [repo = "", tag = "", ...extra] = repoAndTag.split(":");
    if (!namePart.test(user) || !namePart.test(repo) || extra.length > 0) {
      throw new ModelUriError(`"${original}" is not a valid Hugging Face model URI. ${examples}`);
    }
    const cleanTag = tag.trim();
    if (cleanTag !== "" && !/^[A-Za-z0-9._-]+$/.test(cleanTag)) {
      throw new ModelUriError(`"${cleanTag}" in "${original}" is not a valid quantization tag (e.g. Q4_K_M).`);
    }
    return { kind: "hf-tag", user, repo, tag: cleanTag === "" ? "latest" : cleanTag.toUpperCase() };
  }
  let filePath = fileParts.join("/");
  let branch = "main";
  const hash = filePath.indexOf("#");
  if (hash >= 0) {
    branch = filePath.slice(hash + 1) || "main";
    filePath = filePath.slice(0, hash);
  }
  if (!namePart.test(user) || !namePart.test(repoAndTag) || filePath === "" || filePath.split("/").some((part) => part === "" || part === "..")) {
    throw new ModelUriError(`"${original}" is not a valid Hugging Face file URI. ${examples}`);
  }
  if (!/\.gguf$/i.test(filePath)) throw new ModelUriError(`"${original}" does not name a .gguf file. ${examples}`);
  return { kind: "hf-file", user, repo: repoAndTag, file: filePath, branch };
}

/** The hub endpoint, as node-llama-cpp resolves it (MODEL_ENDPOINT, then HF_ENDPOINT, else huggingface.co). */
export function huggingFaceEndpoint(env: Record<string, string | undefined>): string {
  for (const value of [env.MODEL_ENDPOINT, env.HF_ENDPOINT]) {
    if (value && /^https?:\/\//i.test(value)) return value.endsWith("/") ? value : `${value}/`;
  }
  return "https://huggingface.co/";
}

const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

/** The hub's manifest URL that names the file of a `hf:<user>/<repo>:<quant>` URI. */
export function manifestUrl(address: Extract<ModelAddress, { kind: "hf-tag" }>, endpoint: string): string {
  return `${endpoint}v2/${encodeURIComponent(address.user)}/${encodeURIComponent(address.repo)}/manifests/${encodeURIComponent(address.tag)}`;
}

/** The URL the file itself is downloaded from. */
export function fileUrl(address: Exclude<ModelAddress, { kind: "hf-tag" }>, endpoint: string): string {
  if (address.kind === "url") return address.url;
  return `${endpoint}${encodeURIComponent(address.user)}/${encodeURIComponent(address.repo)}/resolve/${encodeURIComponent(address.branch)}/${encodePath(address.file)}`;
}

/** The canonical `hf:` URI of a file (node-llama-cpp's form). */
export function fileUri(address: Extract<ModelAddress, { kind: "hf-file" }>): string {
  return `hf:${address.user}/${address.repo}/${address.file}${address.branch !== "main" ? `#${address.branch}` : ""}`;
}

/** A safe local file name for the downloaded model (no folders, no odd characters). */
export function localFileName(address: Exclude<ModelAddress, { kind: "hf-tag" }>): string {
  const base =
    address.kind === "url"
      ? decodeURIComponent(new URL(address.url).pathname.split("/").pop() ?? "model.gguf")
      : `${address.user}_${address.file.split("/").pop() ?? "model.gguf"}`;
  const safe = base.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "");
  return /\.gguf$/i.test(safe) ? safe : `${safe}.gguf`;
}

/** True for a file that is one part of a split GGUF (`-00001-of-00003.gguf`). */
export function isSplitPart(file: string): boolean {
  return /-\d{5}-of-\d{5}\.gguf$/i.test(file);
}

/**
 * The SHA-256 the hub announces for an LFS file: its `X-Linked-ETag` header (huggingface_hub reads
 * the same header), quoted or weak-prefixed. Undefined when it is not a SHA-256.
 */
export function sha256FromEtag(etag: string | null | undefined): string | undefined {
  if (!etag) return undefined;
  const value = etag.trim().replace(/^W\//, "").replace(/^"|"$/g, "").toLowerCase();
  return /^[0-9a-f]{64}$/.test(value) ? value : undefined;
}

export function isSha256(value: unknown): value is string {
  return typeof value === "string" && /^[0-9a-fA-F]{64}$/.test(value);
}
