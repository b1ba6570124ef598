import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { holdEventLoopHot, hotEventLoopIdleMs, hotEventLoopState } from "../../server/kv/hotEventLoop";

test("the event loop keeps turning while a generation holds it, and stops by itself when the last holder lets go", async () => {
  const before = hotEventLoopState().turns;
  const a = holdEventLoopHot();
  const b = holdEventLoopHot();
  try {
    // Timers fire while it turns: wait (on a timer) until it has turned 50 times, 2 s at most.
    const deadline = Date.now() + 2000;
    while (hotEventLoopState().turns - before < 50 && Date.now() < deadline) await sleep(5);
    const during = hotEventLoopState();
    assert.equal(during.holders, 2);
    assert.ok(during.turning);
    assert.ok(during.turns - before >= 50, `only ${during.turns - before} turns in 2 s: the loop is not kept turning`);
    a.release();
    a.release(); // a second release of the same hold changes nothing
    assert.equal(hotEventLoopState().holders, 1);
  } finally {
    a.release();
    b.release();
  }
  await sleep(20);
  const after = hotEventLoopState();
  assert.equal(after.holders, 0);
  assert.equal(after.turning, false);
  await sleep(50);
  assert.equal(hotEventLoopState().turns, after.turns, "the chain went on turning with no holder (a core burnt for nothing)");
});

test("a hold that sees no token for a while (an abandoned generation) lets the loop rest, and a token wakes it again", async () => {
  const hold = holdEventLoopHot();
  try {
    await sleep(hotEventLoopIdleMs + 200);
    assert.equal(hotEventLoopState().turning, false, "an idle hold kept a core busy");
    hold.touch();
    assert.equal(hotEventLoopState().turning, true);
  } finally {
    hold.release();
  }
  await sleep(20);
  assert.equal(hotEventLoopState().turning, false);
});
