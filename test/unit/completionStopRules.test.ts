import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  findStop,
  fitToCursorIndent,
  withoutCursorIndent,
  finishSuggestion,
  indentWidth,
  trimLineSuffixOverlap,
  unmatchedClosers,
  type StopContext,
} from "../../server/completion/stopRules";

const at = (linePrefix: string, suffix = "", maxLines = 8): StopContext => ({ linePrefix, suffix, maxLines });

describe("completion stop rules", () => {
  it("keeps going while nothing ends the suggestion", () => {
    const decision = findStop("return a + b", at("    "));
    assert.deepEqual(decision, { stop: false, keep: "return a + b".length });
  });

  it("max lines: cuts before the line that would exceed it (a bare first newline is free)", () => {
    const text = "\n    a = 1\n    b = 2\n    c = 3\n";
    const decision = findStop(text, at("def f():", "", 2));
    assert.equal(decision.stop, true);
    assert.equal(decision.reason, "maxLines");
    assert.equal(text.slice(0, decision.keep), "\n    a = 1\n    b = 2");
  });

  it("blank line after content ends the suggestion; a leading blank line does not", () => {
    const text = "x = 1\n    y = 2\n\n    z = 3";
    const decision = findStop(text, at("    "));
    assert.equal(decision.reason, "blankLine");
    assert.equal(text.slice(0, decision.keep), "x = 1\n    y = 2");
    assert.equal(findStop("\n\n    x = 1", at("def f():")).stop, false);
  });

  it("a blank line is only decided once its newline arrives (incremental)", () => {
    assert.equal(findStop("x = 1\n   ", at("    ")).stop, false);
    assert.equal(findStop("x = 1\n   \n", at("    ")).stop, true);
  });

  it("end of block: stops before a line indented less than the block it started in", () => {
    const text = "\n    return a + b\ndef mul(a, b):";
    const decision = findStop(text, at("def add(a, b):"));
    assert.equal(decision.reason, "endOfBlock");
    assert.equal(text.slice(0, decision.keep), "\n    return a + b");
    const braces = "total += x;\n}\nfunction next() {";
    assert.equal(braces.slice(0, findStop(braces, at("  ")).keep), "total += x;");
  });

  it("deeper lines are fine; the reference is the cursor line when it has content", () => {
    const text = "if x:\n        y()\n    z()";
    assert.equal(findStop(text, at("    ")).stop, false);
  });

  it("suffix: stops before a line that repeats the next line after the cursor", () => {
    const text = "\n    total = a + b\n    return total\n";
    const decision = findStop(text, at("def add(a, b):", "\n    return total\n"));
    assert.equal(decision.reason, "suffixLine");
    assert.equal(text.slice(0, decision.keep), "\n    total = a + b");
  });

  it("text after the cursor on its line keeps the suggestion on one line", () => {
    const decision = findStop("a, b)\n    more", at("foo(", ")"));
    assert.equal(decision.reason, "singleLine");
    assert.equal(decision.keep, "a, b)".length);
  });

  it("trims a tail that repeats the text after the cursor, unless it is needed to balance brackets", () => {
    assert.equal(trimLineSuffixOverlap("a, b)", "x = foo(", ")"), "a, b");
    assert.equal(trimLineSuffixOverlap("bar(x)", "print(", ")"), "bar(x)", "balanced: the ) belongs to bar(");
    assert.equal(trimLineSuffixOverlap("x > 0:", "if ", ":"), "x > 0", "the whole rest of the line repeated");
    assert.equal(trimLineSuffixOverlap("max", "y = ", "x + 1"), "max", "part of the rest, brackets unchanged: kept");
    assert.equal(trimLineSuffixOverlap("max", "y = ", "x"), "ma", "the line reads y = max, not y = maxx");
    assert.equal(trimLineSuffixOverlap("a, b)", "foo(", ""), "a, b)", "nothing after the cursor");
  });

  it("finishSuggestion applies every rule and drops whitespace-only results", () => {
    assert.equal(finishSuggestion("return x\n\n\ndef g():", at("    ")), "return x");
    assert.equal(finishSuggestion("a, b))\nfoo", at("foo(", "))")), "a, b");
    assert.equal(finishSuggestion("\n    \n", at("x = 1")), "");
    assert.equal(finishSuggestion("return total", at("    ", "return total\n")), "");
  });

  it("counts indentation and unmatched closers", () => {
    assert.equal(indentWidth("\t  x"), 6);
    assert.equal(indentWidth("x"), 0);
    assert.equal(unmatchedClosers("f(a[1]) }"), 1);
    assert.equal(unmatchedClosers("{[()]}"), 0);
  });
});

describe("indentation at the cursor", () => {
  it("ends the prompt at the line start when only indentation precedes the cursor", () => {
    const text = "def f(n):\n    \nprint(f(1))\n";
    const view = withoutCursorIndent(text, "def f(n):\n    ".length);
    assert.equal(view.text, "def f(n):\n\nprint(f(1))\n");
    assert.equal(view.offset, "def f(n):\n".length);
    assert.equal(view.indent, "    ");
  });

  it("leaves the document alone when the line has code before the cursor or no indentation", () => {
    const text = "x = 1\n    return x";
    assert.deepEqual(withoutCursorIndent(text, text.length), { text, offset: text.length, indent: "" });
    assert.deepEqual(withoutCursorIndent("a\n", 2), { text: "a\n", offset: 2, indent: "" });
  });

  it("does not indent twice: the editor's indentation is removed from the suggestion", () => {
    assert.equal(fitToCursorIndent("    return 1", "    "), "return 1");
    assert.equal(fitToCursorIndent("        return 1\n    x", "    "), "    return 1\n    x");
  });

  it("keeps the editor's indentation when the model indents less or with other characters", () => {
    assert.equal(fitToCursorIndent("  return 1", "    "), "return 1");
    assert.equal(fitToCursorIndent("\treturn 1", "    "), "return 1");
    assert.equal(fitToCursorIndent("return 1", ""), "return 1");
  });
});
