// Crash recovery's decision: restart after a crash, stop after 4 crashes inside 3 minutes, and
// describe how the server died in words a user understands.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CrashWindow, describeExit } from "../../src/reliability/crashWindow";

const kill = { code: null, signal: "SIGKILL" };
const minute = 60_000;

describe("CrashWindow", () => {
  it("restarts the first three crashes and stops at the fourth inside 3 minutes", () => {
    const window = new CrashWindow();
    const decisions = [0, 10_000, 20_000, 30_000].map((at) => window.record(at, kill));
    assert.deepEqual(
      decisions.map((d) => d.action),
      ["restart", "restart", "restart", "stop"],
    );
    assert.equal(decisions[0]!.message, "StreamSink server crashed (signal SIGKILL, killed (possibly out of memory)); restarted.");
    assert.match(decisions[3]!.message, /crashed 4 times in 3 minutes \(last: signal SIGKILL/);
    assert.match(decisions[3]!.message, /Restart Server/);
  });

  it("forgets crashes older than the window", () => {
    const window = new CrashWindow();
    for (const at of [0, 1 * minute, 2 * minute]) assert.equal(window.record(at, kill).action, "restart");
    // The first crash is 3 minutes old now: only 3 inside the window.
    const fourth = window.record(3 * minute, kill);
    assert.equal(fourth.action, "restart");
    assert.equal(fourth.crashes, 3);
    assert.equal(window.record(3 * minute + 1, kill).action, "stop");
  });

  it("starts counting again after a reset (the user restarted by hand)", () => {
    const window = new CrashWindow({ maxCrashes: 2, windowMs: minute });
    window.record(0, kill);
    assert.equal(window.record(1, kill).action, "stop");
    window.reset();
    assert.equal(window.record(2, kill).action, "restart");
  });
});

describe("describeExit", () => {
  it("names the signal or exit code and what it usually means", () => {
    assert.equal(describeExit({ code: null, signal: "SIGABRT" }), "signal SIGABRT, a native abort in llama.cpp");
    assert.equal(describeExit({ code: 134, signal: null }), "exit code 134, a native abort");
    assert.equal(describeExit({ code: 3, signal: null }), "exit code 3");
    assert.equal(describeExit(undefined), "the connection closed");
  });
});
