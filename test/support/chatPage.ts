// The real chat page in chromium for tests and bench/chatview.ts: the HTML shell of src/chat/html.ts
// with the webview script (src/webview/chat/main.ts) bundled as esbuild.js bundles it, and the two ends
// of the webview channel — messages delivered as the extension posts them, messages the page posts.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { FromWebview, ToWebview } from "../../common/chatMessages";
import type { ChatWindowState } from "../../common/protocol";
import { chatHtml } from "../../src/chat/html";
import { ChatStore, FolderStorage } from "../../src/chat/store";
import { ChatViewSync } from "../../src/chat/viewSync";
import { launchChromium, pageBundle } from "./chromium";
import { repoRoot } from "./paths";

export async function openChatPage(browser: Browser, viewport = { width: 420, height: 800 }): Promise<Page> {
  const bundle = await pageBundle("src/webview/chat/main.ts");
  // The page's own Content Security Policy allows only the nonce'd script that VS Code would load;
  // the bundle is injected instead, so the page bypasses the CSP (chatRender.test.ts tests the sanitizer without one).
  const webview = { cspSource: "https://webview.test", asWebviewUri: (uri: string) => uri } as unknown as Parameters<typeof chatHtml>[0];
  const html = chatHtml(webview, "https://webview.test/media" as never, ((base: string, ...parts: string[]) => [base, ...parts].join("/")) as never);
  const context = await browser.newContext({ bypassCSP: true, viewport });
  const page = await context.newPage();
  // The real stylesheet (the layout decides what scrolling does); codicons are not needed.
  const css = await readFile(path.join(repoRoot, "media", "chat.css"), "utf8");
  await page.route("https://webview.test/**", (route) =>
    route.request().url().endsWith("chat.css") ? route.fulfill({ status: 200, contentType: "text/css", body: css }) : route.fulfill({ status: 404, body: "" }),
  );
  await page.setContent(html);
  await page.addScriptTag({
    content: "window.__posted = []; window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), getState: () => undefined, setState: () => undefined });",
  });
  await page.addScriptTag({ content: bundle });
  // tsx compiles callers with esbuild's keepNames, which wraps functions passed to page.evaluate in a `__name(...)` helper.
  await page.addScriptTag({ content: "window.__name = (target) => target;" });
  return page;
}

/** Delivers messages to the page as VS Code does (message events), synchronously in one task. */
export async function deliver(page: Page, messages: ToWebview[]): Promise<void> {
  if (messages.length === 0) return;
  await page.evaluate((batch) => {
    for (const data of batch) window.dispatchEvent(new MessageEvent("message", { data }));
  }, messages);
}

/** What the page posted since the last call. */
export function takePosted(page: Page): Promise<FromWebview[]> {
  return page.evaluate(() => (window as unknown as { __posted: FromWebview[] }).__posted.splice(0));
}

/** Answers the page's page and search requests with the real extension side until it asks nothing more. */
export async function serve(page: Page, sync: ChatViewSync, outbox: ToWebview[]): Promise<FromWebview[]> {
  const seen: FromWebview[] = [];
  for (let round = 0; round < 20; round++) {
    await deliver(page, outbox.splice(0));
    const posted = await takePosted(page);
    if (posted.length === 0) break;
    seen.push(...posted);
    for (const message of posted) {
      if (message.type === "page") await sync.postPage(message.chatId, message.start, message.count);
      if (message.type === "search") await sync.postSearch(message.chatId, message.query);
    }
  }
  return seen;
}

/** A window state as the server sends it: messages before `firstInWindow` have left a 512-token window. */
export function windowState(chatId: string, firstInWindow: string, outsideCount: number, shifts = 7): ChatWindowState {
  return {
    chatId,
    firstInWindow,
    outsideAfter: [],
    outsideCount,
    partial: [],
    pinnedInSink: [],
    pinnedPending: [],
    pinnedTokens: 0,
    pinBudget: 100,
    templateSinks: 20,
    kvCells: 500,
    contextSize: 512,
    shifts,
    tokensEvicted: shifts * 64,
  };
}

/** The chat page fed by the real extension side: a ChatStore in a scratch folder, ChatViewSync posting into `outbox`. */
export interface ChatFixture {
  /** The store's folder (a second ChatStore on it is a reloaded extension host). */
  folder: string;
  browser: Browser;
  page: Page;
  store: ChatStore;
  sync: ChatViewSync;
  outbox: ToWebview[];
  close(): Promise<void>;
}

export async function openChatFixture(name: string): Promise<ChatFixture> {
  const folder = await mkdtemp(path.join(tmpdir(), `streamsink-${name}-`));
  const store = await ChatStore.open(new FolderStorage(folder), { saveDelayMs: 10 });
  const outbox: ToWebview[] = [];
  const sync = new ChatViewSync(store, (message) => outbox.push(message));
  const browser = await launchChromium();
  const page = await openChatPage(browser);
  return {
    folder,
    browser,
    page,
    store,
    sync,
    outbox,
    async close() {
      await browser.close();
      await store.flush();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

/** openChatFixture for the enclosing describe: opened before its tests, closed after them. */
export function useChatFixture(name: string): ChatFixture {
  const fixture = {} as ChatFixture;
  before(async () => void Object.assign(fixture, await openChatFixture(name)));
  after(async () => await fixture.close?.());
  return fixture;
}
