// Model-load bounds (server/model/loadControl.ts) and crash markers (server/model/loadMarker.ts):
// a load times out with a message, a newer choice supersedes it, a step that ignores the signal
// stops being waited for (what it returns late is discarded), and a marker is taken only from a
// process that is gone, for the same file and size, once.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { LoadAbortedError, LoadControl, settlesWithin } from "../../server/model/loadControl";
import { LoadMarkers } from "../../server/model/loadMarker";

const never = new Promise<never>(() => undefined);

describe("LoadControl", () => {
  it("stops waiting for a step that never ends once the load times out, with a message naming the file", async () => {
    const control = new LoadControl("/models/slow.gguf", 50);
    const keepAlive = setTimeout(() => undefined, 5000); // the load's own timer does not hold the process open
    await assert.rejects(control.untilAborted(never), (error: unknown) => {
      assert.ok(error instanceof LoadAbortedError);
      assert.equal(error.superseded, false);
      assert.match(error.message, /Loading \/models\/slow\.gguf took longer than 0 s/);
      return true;
    });
    clearTimeout(keepAlive);
    control.finish();
  });

  it("a newer choice supersedes the load, and what the step returns late is discarded", async () => {
    const control = new LoadControl("/models/a.gguf");
    let resolveLate: (value: string) => void = () => undefined;
    const late = new Promise<string>((resolve) => (resolveLate = resolve));
    const discarded: string[] = [];
    const waiting = control.untilAborted(late, (value) => discarded.push(value));
    control.supersede();
    await assert.rejects(waiting, (error: unknown) => error instanceof LoadAbortedError && error.superseded);
    resolveLate("model");
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(discarded, ["model"]);
    assert.throws(() => control.throwIfAborted(), LoadAbortedError);
    control.finish();
  });

  it("settlesWithin bounds a dispose that never ends", async () => {
    assert.equal(await settlesWithin(never, 20), false);
    assert.equal(await settlesWithin(Promise.reject(new Error("x")), 20), true);
  });
});

describe("LoadMarkers", () => {
  it("takes a marker only from a process that is gone, for the same file and size, once", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "streamsink-markers-"));
    try {
      const markers = new LoadMarkers(dir);
      const gone = 2 ** 22 + 4321;
      await markers.write("/m/a.gguf", 100, "loading", gone);
      assert.equal(await markers.takeCrashed("/m/a.gguf", 101), undefined, "another size: another file");
      await markers.write("/m/a.gguf", 100, "loading", gone);
      assert.equal((await markers.takeCrashed("/m/a.gguf", 100))?.modelPath, "/m/a.gguf");
      assert.equal(await markers.takeCrashed("/m/a.gguf", 100), undefined, "refused once");
      await markers.write("/m/b.gguf", 100, "loading", process.ppid);
      assert.equal(await markers.takeCrashed("/m/b.gguf", 100), undefined, "a live process is still loading it");
      await markers.clear("/m/b.gguf");
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
