// Which notifications a server status calls for: an error shown while it lasts and closed when it
// is fixed, a warning about the loaded model shown once.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ServerStatus } from "../../common/protocol";
import { errorNoticeText, planNotices } from "../../common/statusNotices";

const missing: ServerStatus = { state: "error", message: "Model file not found: /m/x.gguf." };
const ready: ServerStatus = { state: "ready", message: "x is ready on cpu.", modelName: "x", backend: "cpu" };

describe("planNotices", () => {
  it("opens an error notification once, and closes it when the status returns to ready", () => {
    const first = planNotices(missing, undefined, new Set(), true);
    assert.equal(first.closeError, false);
    assert.match(first.openError ?? "", /^Model file not found: \/m\/x\.gguf\. \[Open Settings\]\(command:workbench\.action\.openSettings\?/);
    assert.deepEqual(planNotices(missing, missing.message, new Set(), true), { closeError: false }, "the same error: nothing new");
    assert.deepEqual(planNotices(ready, missing.message, new Set(), true), { closeError: true }, "fixed: the notification closes");
  });

  it("closes it while reloading and replaces it by a different error", () => {
    assert.equal(planNotices({ state: "loading", message: "Loading x…" }, missing.message, new Set(), true).closeError, true);
    const other = planNotices({ state: "error", message: "Not a GGUF file." }, missing.message, new Set(), true);
    assert.equal(other.closeError, true);
    assert.match(other.openError ?? "", /^Not a GGUF file\./);
  });

  it("offers a restart when the server has stopped", () => {
    assert.match(errorNoticeText(missing, false), /\[Restart Server\]\(command:streamsink\.restartServer\) · \[Show Log\]\(command:streamsink\.showLog\)$/);
    assert.ok(!errorNoticeText(missing, false).includes("Open Settings"));
  });

  it("shows a warning of a ready model once", () => {
    const warned = { ...ready, warning: "n_ctx 1024 > trained 512: answers degrade" };
    assert.equal(planNotices(warned, undefined, new Set(), true).warning, warned.warning);
    assert.equal(planNotices(warned, undefined, new Set([warned.warning]), true).warning, undefined);
    assert.equal(planNotices(ready, undefined, new Set(), true).warning, undefined);
  });
});
