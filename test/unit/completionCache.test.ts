import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SuggestionCache } from "../../common/suggestionCache";
import { cancellableDelay } from "../../src/completion/debounce";

const uri = "file:///a.py";

describe("suggestion LRU", () => {
  it("typing the suggested characters keeps showing the rest", () => {
    const cache = new SuggestionCache(4);
    const text = "def add(a, b):\n    \n\nprint(1)\n";
    const offset = text.indexOf("    \n") + 4;
    cache.add(SuggestionCache.keyOf(uri, text, offset), "return a + b");
    assert.equal(cache.lookup(SuggestionCache.keyOf(uri, text, offset)), "return a + b", "same place: all of it");
    for (let typed = 1; typed < "return a + b".length; typed++) {
      const now = text.slice(0, offset) + "return a + b".slice(0, typed) + text.slice(offset);
      assert.equal(cache.lookup(SuggestionCache.keyOf(uri, now, offset + typed)), "return a + b".slice(typed));
    }
  });

  it("misses when the typed text differs, the suffix changed, or it is another document", () => {
    const cache = new SuggestionCache(4);
    const text = "x = \ny = 2\n";
    cache.add(SuggestionCache.keyOf(uri, text, 4), "compute()");
    const typo = "x = cx\ny = 2\n";
    assert.equal(cache.lookup(SuggestionCache.keyOf(uri, typo, 6)), undefined);
    const suffixChanged = "x = \ny = 3\n";
    assert.equal(cache.lookup(SuggestionCache.keyOf(uri, suffixChanged, 4)), undefined);
    assert.equal(cache.lookup(SuggestionCache.keyOf("file:///b.py", text, 4)), undefined);
    // Typing all of it leaves nothing to suggest.
    const done = "x = compute()\ny = 2\n";
    assert.equal(cache.lookup(SuggestionCache.keyOf(uri, done, 13)), undefined);
  });

  it("a short document must match as a whole, not just at its end", () => {
    const cache = new SuggestionCache(4);
    cache.add(SuggestionCache.keyOf(uri, "ab", 2), "cd");
    assert.equal(cache.lookup(SuggestionCache.keyOf(uri, "xxab", 4)), undefined);
    assert.equal(cache.lookup(SuggestionCache.keyOf(uri, "abc", 3)), "d");
  });

  it("long documents compare a window before the cursor", () => {
    const cache = new SuggestionCache(4);
    const head = "# ".repeat(5000);
    const text = head + "value = ";
    cache.add(SuggestionCache.keyOf(uri, text, text.length), "42");
    const edited = "changed far above\n" + text + "4";
    assert.equal(cache.lookup(SuggestionCache.keyOf(uri, edited, edited.length)), "2");
  });

  it("keeps the most recently used entries up to its capacity", () => {
    const cache = new SuggestionCache(2);
    const key = (n: number) => SuggestionCache.keyOf(uri, `line ${n} = `, `line ${n} = `.length);
    cache.add(key(1), "one");
    cache.add(key(2), "two");
    assert.equal(cache.lookup(key(1)), "one"); // 1 is now the most recent
    cache.add(key(3), "three"); // evicts 2
    assert.equal(cache.size, 2);
    assert.equal(cache.lookup(key(2)), undefined);
    assert.equal(cache.lookup(key(1)), "one");
    assert.equal(cache.lookup(key(3)), "three");
    cache.clear(uri);
    assert.equal(cache.size, 0);
  });
});

describe("debounce", () => {
  function token() {
    const listeners: (() => unknown)[] = [];
    return {
      isCancellationRequested: false,
      onCancellationRequested(listener: () => unknown) {
        listeners.push(listener);
        return { dispose: () => listeners.splice(listeners.indexOf(listener), 1) };
      },
      cancel() {
        this.isCancellationRequested = true;
        for (const listener of [...listeners]) listener();
      },
      get listeners() {
        return listeners.length;
      },
    };
  }

  it("waits, then says to go on; a cancellation ends the wait at once", async () => {
    const waited = token();
    assert.equal(await cancellableDelay(5, waited), true);
    assert.equal(waited.listeners, 0, "no listener left behind");
    const cancelled = token();
    const pending = cancellableDelay(60_000, cancelled);
    cancelled.cancel();
    assert.equal(await pending, false);
    assert.equal(cancelled.listeners, 0);
    const already = token();
    already.cancel();
    assert.equal(await cancellableDelay(10, already), false);
    assert.equal(await cancellableDelay(0, token()), true);
  });
});
