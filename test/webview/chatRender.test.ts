// The chat renderer (src/webview/chat/render.ts) in a real DOM: Debian chromium through playwright-core.
// Model output that tries to run code — <script>, event-handler attributes, javascript: links, raw
// HTML — executes nothing and leaves no dangerous element or attribute behind, while ordinary
// Markdown and highlighted code still render. The page has no CSP on purpose: the sanitizer alone
// must hold.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium, pageBundle, skipWithoutChromium } from "../support/chromium";
import { eventually } from "../support/eventually";

const attacks = [
  "<script>window.__pwned = 'script'</script>",
  "Hello <img src=x onerror=\"window.__pwned = 'img'\"> world",
  "[click me](javascript:window.__pwned='md-link')",
  "<a href=\"javascript:window.__pwned='html-link'\">raw link</a>",
  "<javascript:window.__pwned='autolink'>",
  "[data](data:text/html,<script>window.__pwned='data'</script>)",
  "![pic](x\" onerror=\"window.__pwned='md-img')",
  "<svg onload=\"window.__pwned='svg'\"><circle r=5 /></svg>",
  "<iframe src=\"javascript:window.__pwned='iframe'\"></iframe>",
  "<details open ontoggle=\"window.__pwned='details'\">x</details>",
  "<style>body { display: none }</style><form action=https://evil.example><input name=a></form>",
  "[x](JaVaScRiPt:window.__pwned='mixed-case')  [y](  javascript:window.__pwned='spaces')",
  "```html\n<script>window.__pwned = 'code'</script>\n```",
];

describe("chat renderer in a real DOM (chromium)", { skip: skipWithoutChromium }, () => {
  let browser: Browser;
  let page: Page;

  before(async () => {
    const bundle = await pageBundle("src/webview/chat/render.ts", "ChatRender");
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setContent("<!DOCTYPE html><html><body><div id=root></div></body></html>");
    await page.addScriptTag({ content: bundle });
    // tsx compiles this file with esbuild's keepNames, which wraps the functions passed to
    // page.evaluate in a `__name(...)` helper that the page lacks.
    await page.addScriptTag({ content: "window.__name = (target) => target;" });
    // Following an http(s) link would navigate the test page away; any other link is followed.
    await page.addScriptTag({
      content:
        "document.addEventListener('click', (e) => { const a = e.target.closest && e.target.closest('a');" +
        " if (a && /^(https?|mailto):/i.test(a.getAttribute('href') || '')) e.preventDefault(); }, true);",
    });
  });

  after(async () => {
    await browser?.close();
  });

  type Probe = Window & { __pwned?: string; __copied?: string[]; __imageCanary?: boolean; __linkCanary?: boolean };

  async function render(markdown: string) {
    await page.evaluate((text) => {
      const api = (window as unknown as { ChatRender: typeof import("../../src/webview/chat/render") }).ChatRender;
      const probe = window as Probe;
      delete probe.__pwned;
      probe.__imageCanary = false;
      probe.__linkCanary = false;
      const copied: string[] = (probe.__copied = []);
      const root = document.getElementById("root")!;
      root.replaceChildren(api.renderMarkdown(text, document, { copy: (code) => copied.push(code), insert: () => undefined }));
      // A broken image of our own, outside the rendered output: its error handler runs after those
      // of any image the output would still hold (same source, queued later).
      const canary = new Image();
      canary.onerror = () => (probe.__imageCanary = true);
      canary.src = "x";
    }, markdown);
    await eventually(() => page.evaluate(() => (window as Probe).__imageCanary || undefined), { what: "the canary image's error handler" });
    // Follow every link the way a click would, then a javascript: link of our own outside the
    // output: javascript: URLs run in order, so once ours ran, any link the output held has run too.
    await page.evaluate(() => {
      for (const link of Array.from(document.getElementById("root")!.querySelectorAll("a"))) link.click();
      const canary = document.createElement("a");
      canary.href = "javascript:window.__linkCanary = true";
      document.body.append(canary);
      canary.click();
      canary.remove();
    });
    await eventually(() => page.evaluate(() => (window as Probe).__linkCanary || undefined), { what: "the canary javascript: link" });
    return page.evaluate(() => {
      const probe = window as Probe;
      const copied = probe.__copied!;
      const root = document.getElementById("root")!;
      const all = Array.from(root.querySelectorAll("*"));
      return {
        pwned: probe.__pwned,
        tags: [...new Set(all.map((element) => element.tagName.toLowerCase()))],
        handlers: all.flatMap((element) => Array.from(element.attributes).filter((a) => a.name.startsWith("on")).map((a) => `${element.tagName}.${a.name}`)),
        hrefs: all.flatMap((element) => ["href", "src", "action", "xlink:href"].map((name) => element.getAttribute(name)).filter((v): v is string => v !== null)),
        text: root.textContent ?? "",
        highlighted: root.querySelectorAll("pre code span[class^='hljs-']").length,
        buttons: Array.from(root.querySelectorAll(".code-bar button")).map((b) => b.getAttribute("aria-label")),
        copied,
        clickCopy: (() => {
          const button = root.querySelector<HTMLButtonElement>(".code-bar button");
          button?.click();
          return copied.slice();
        })(),
      };
    });
  }

  for (const attack of attacks) {
    it(`executes nothing: ${JSON.stringify(attack).slice(0, 60)}`, async () => {
      const result = await render(attack);
      assert.equal(result.pwned, undefined, "no script ran");
      for (const tag of ["script", "img", "iframe", "svg", "style", "form", "input", "details", "object", "embed"]) {
        assert.ok(!result.tags.includes(tag), `no <${tag}> survives (got ${result.tags.join(", ")})`);
      }
      assert.deepEqual(result.handlers, [], "no event-handler attributes");
      for (const url of result.hrefs) assert.match(url, /^(https?:|mailto:)/i, `only http(s)/mailto links (got ${url})`);
    });
  }

  it("shows raw HTML and code as text instead of running it", async () => {
    const raw = await render("<script>window.__pwned = 'script'</script>");
    assert.match(raw.text, /<script>window\.__pwned = 'script'<\/script>/);
    const code = await render("```html\n<script>window.__pwned = 'code'</script>\n```");
    assert.match(code.text, /<script>window\.__pwned = 'code'<\/script>/);
    assert.equal(code.pwned, undefined);
  });

  it("renders Markdown, safe links and highlighted code blocks with Copy and Insert", async () => {
    const result = await render(
      "# Title\n\nSome **bold** text and a [link](https://example.com/docs).\n\n```python\ndef add(a, b):\n    return a + b\n```\n",
    );
    assert.ok(result.tags.includes("h1") && result.tags.includes("strong") && result.tags.includes("a"));
    assert.deepEqual(result.hrefs, ["https://example.com/docs"]);
    assert.ok(result.highlighted > 0, "highlight.js marked up the code");
    assert.deepEqual(result.buttons, ["Copy code", "Insert at cursor"]);
    assert.deepEqual(result.clickCopy, ["def add(a, b):\n    return a + b\n"], "Copy gets the exact code");
  });

  it("shows code that the model wrote without a fence as code, indentation and underscores intact", async () => {
    const code = "class Point:\n    def __init__(self, x):\n        self.x = x * 2 * x";
    const result = await render(`Here is the class you asked for:\n${code}\n\nIt stores x.`);
    assert.ok(!result.tags.includes("strong") && !result.tags.includes("em"), `no bold or italics taken from the code (got ${result.tags.join(", ")})`);
    assert.deepEqual(result.buttons, ["Copy code", "Insert at cursor"]);
    assert.deepEqual(result.clickCopy, [`${code}\n`], "Copy gets the code with its indentation");
    assert.match(result.text, /^Here is the class you asked for:/);
    assert.match(result.text, /It stores x\.\s*$/);
  });
});
