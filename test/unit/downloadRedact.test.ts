// Credentials in download addresses never reach messages or the log (server/model/download/redact.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { redactText, redactUrl, secretsOf } from "../../common/redact";

describe("download credential redaction", () => {
  it("removes user info and secret query values from URLs, keeping the rest", () => {
    assert.equal(
      redactUrl("https://alice:s3cret@example.com/m.gguf?token=abc123&rev=main"),
      "https://***:***@example.com/m.gguf?token=***&rev=main",
    );
    assert.equal(redactUrl("https://example.com/m.gguf?access_token=xyz&X-Amz-Signature=deadbeef"), "https://example.com/m.gguf?access_token=***&X-Amz-Signature=***");
    assert.equal(redactUrl("https://example.com/m.gguf?api_key=k&hf_key=v"), "https://example.com/m.gguf?api_key=***&hf_key=***");
    assert.equal(redactUrl("https://example.com/keyboard.gguf?monkey=1"), "https://example.com/keyboard.gguf?monkey=1", "only whole names or suffixes");
    assert.equal(redactUrl("hf:user/repo:Q4_K_M"), "hf:user/repo:Q4_K_M");
  });

  it("scrubs credentials from free text (Node errors, server answers, log lines)", () => {
    const text =
      "connect ECONNREFUSED for https://bob:hunter22@127.0.0.1:9/x.gguf?sig=0123456789 " +
      "(Authorization: Bearer abcdefghijklmnop) token=zzzzzzzz hf_abcdefghijklmnopqrstu";
    const clean = redactText(text);
    for (const secret of ["bob", "hunter22", "0123456789", "abcdefghijklmnop", "zzzzzzzz", "hf_abcdefghijklmnopqrstu"]) {
      assert.ok(!clean.includes(secret), `${secret} in ${clean}`);
    }
    assert.match(clean, /ECONNREFUSED/);
    assert.match(clean, /127\.0\.0\.1:9\/x\.gguf/);
  });

  it("scrubs a URL's own secrets wherever they were copied (even decoded)", () => {
    const url = "https://us%40er:p%2Fw0rd@host/m.gguf?token=t%20ok3n";
    const secrets = secretsOf(url);
    const clean = redactText("user us@er password p/w0rd token t ok3n and t%20ok3n", secrets);
    for (const secret of ["us@er", "p/w0rd", "t ok3n", "t%20ok3n"]) assert.ok(!clean.includes(secret), `${secret} in ${clean}`);
  });
});
