// The server's event-loop stall meter (server/eventLoop.ts), in this process: a real block of the
// loop shows as its maximum, and a reset starts a new window.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { maxEventLoopStallMs, resetEventLoopStall, startEventLoopMonitor } from "../../server/eventLoop";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("event-loop stall meter", () => {
  it("reports a 300 ms block, and forgets it after a reset", async () => {
    assert.equal(maxEventLoopStallMs(), 0, "0 before it is started");
    startEventLoopMonitor();
    startEventLoopMonitor(); // idempotent
    await sleep(50);
    const until = performance.now() + 300;
    while (performance.now() < until) {
      // Block the loop.
    }
    await sleep(50);
    const stall = maxEventLoopStallMs();
    assert.ok(stall >= 290 - 5, `a 300 ms block measured as ${stall} ms`);
    resetEventLoopStall();
    await sleep(50);
    assert.ok(maxEventLoopStallMs() < 250, `${maxEventLoopStallMs()} ms after the reset`);
  });
});
