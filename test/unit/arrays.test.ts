import assert from "node:assert/strict";
import { test } from "node:test";
import { appendAll, maxOf, minOf } from "../../common/arrays";

// A 4M-token benchmark collects ~125,000 shift durations; spreading them into Math.max threw
// "Maximum call stack size exceeded" and lost the run's results.
const many = Array.from({ length: 1_000_000 }, (_, i) => (i * 7919) % 1_000_003);

test("maxOf / minOf work on a million values where Math.max(...values) overflows the stack", () => {
  assert.throws(() => Math.max(...many), RangeError);
  assert.equal(maxOf(many), many.reduce((a, b) => (b > a ? b : a)));
  assert.equal(minOf(many), 0);
});

test("maxOf / minOf return the given value for an empty array", () => {
  assert.equal(maxOf([]), 0);
  assert.equal(minOf([], -1), -1);
  assert.equal(maxOf([-5, -3]), -3);
});

test("appendAll appends a million items in order", () => {
  const target = [1];
  assert.equal(appendAll(target, many), target);
  assert.equal(target.length, many.length + 1);
  assert.equal(target[1], many[0]);
  assert.equal(target.at(-1), many.at(-1));
});
