// Model download addresses: what the Download Model input accepts, the hub URLs the server asks, and
// the checksum it reads from the hub's headers.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  fileUri,
  fileUrl,
  huggingFaceEndpoint,
  isSplitPart,
  localFileName,
  manifestUrl,
  ModelUriError,
  parseModelAddress,
  sha256FromEtag,
} from "../../common/modelUri";

describe("parseModelAddress", () => {
  it("reads hf:<user>/<repo>:<quant> (tag upper-cased, 'latest' when absent)", () => {
    assert.deepEqual(parseModelAddress("hf:bartowski/Qwen2.5-Coder-1.5B-Instruct-GGUF:q4_k_m"), {
      kind: "hf-tag",
      user: "bartowski",
      repo: "Qwen2.5-Coder-1.5B-Instruct-GGUF",
      tag: "Q4_K_M",
    });
    assert.deepEqual(parseModelAddress("  huggingface:user/repo  "), { kind: "hf-tag", user: "user", repo: "repo", tag: "latest" });
    assert.equal(parseModelAddress("hf://user/repo:Q8_0").kind, "hf-tag");
  });

  it("reads hf:<user>/<repo>/<path>.gguf with an optional #branch", () => {
    assert.deepEqual(parseModelAddress("hf:user/repo/sub/dir/model-Q4_K_M.gguf#dev"), {
      kind: "hf-file",
      user: "user",
      repo: "repo",
      file: "sub/dir/model-Q4_K_M.gguf",
      branch: "dev",
    });
    assert.equal((parseModelAddress("hf:user/repo/model.gguf") as { branch: string }).branch, "main");
  });

  it("accepts http(s) URLs of .gguf files", () => {
    assert.deepEqual(parseModelAddress("https://example.com/models/a%20b.gguf?download=1"), {
      kind: "url",
      url: "https://example.com/models/a%20b.gguf?download=1",
    });
  });

  it("rejects everything else with a message that shows what is accepted", () => {
    for (const bad of ["", "ftp://x/y.gguf", "/home/me/model.gguf", "https://example.com/model.bin", "hf:user", "hf:/repo:Q4", "hf:user/repo/../x.gguf", "hf:user/repo/readme.md", "hf:user/repo:Q4 K"]) {
      assert.throws(
        () => parseModelAddress(bad),
        (error: unknown) => error instanceof ModelUriError && /hf:|quantization|\.gguf/.test(error.message),
        bad,
      );
    }
  });
});

describe("hub URLs", () => {
  it("follow node-llama-cpp: MODEL_ENDPOINT, then HF_ENDPOINT, else huggingface.co", () => {
    assert.equal(huggingFaceEndpoint({}), "https://huggingface.co/");
    assert.equal(huggingFaceEndpoint({ HF_ENDPOINT: "http://127.0.0.1:9999" }), "http://127.0.0.1:9999/");
    assert.equal(huggingFaceEndpoint({ HF_ENDPOINT: "http://a/", MODEL_ENDPOINT: "http://b/" }), "http://b/");
    assert.equal(huggingFaceEndpoint({ HF_ENDPOINT: "not a url" }), "https://huggingface.co/");
  });

  it("build the manifest and file URLs, and a safe local name", () => {
    const endpoint = "https://huggingface.co/";
    const tag = parseModelAddress("hf:bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M");
    assert.ok(tag.kind === "hf-tag");
    assert.equal(manifestUrl(tag, endpoint), "https://huggingface.co/v2/bartowski/Llama-3.2-3B-Instruct-GGUF/manifests/Q4_K_M");
    const file = parseModelAddress("hf:user/repo/dir/my model.gguf#v2");
    assert.ok(file.kind === "hf-file");
    assert.equal(fileUrl(file, endpoint), "https://huggingface.co/user/repo/resolve/v2/dir/my%20model.gguf");
    assert.equal(fileUri(file), "hf:user/repo/dir/my model.gguf#v2");
    assert.equal(localFileName(file), "user_my_model.gguf");
    const url = parseModelAddress("https://example.com/x/..%2Fevil.gguf");
    assert.ok(url.kind === "url");
    assert.doesNotMatch(localFileName(url), /[/\\]/);
    assert.match(localFileName(url), /\.gguf$/);
  });

  it("recognise split parts and the hub's SHA-256 ETag", () => {
    assert.equal(isSplitPart("m-Q4_K_M-00001-of-00003.gguf"), true);
    assert.equal(isSplitPart("m-Q4_K_M.gguf"), false);
    const sha = "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d";
    assert.equal(sha256FromEtag(`"${sha}"`), sha);
    assert.equal(sha256FromEtag(`W/"${sha.toUpperCase()}"`), sha);
    assert.equal(sha256FromEtag('"5d41402abc4b2a76b9719d911017c592"'), undefined, "a git/MD5 etag is not a SHA-256");
    assert.equal(sha256FromEtag(null), undefined);
  });
});
