// Shared helpers for e2e steps: one Playwright page on code-server, screenshots, settings, and the
// UI gestures steps need (command palette, open file, type, webview frame, status bar, toasts).
import fs from "node:fs";
import path from "node:path";
import type { Frame, FrameLocator, Locator, Page } from "playwright-core";
import { updateSettings, type Profile } from "../../scripts/e2e/codeServer";

export interface StepContext {
  page: Page;
  profile: Profile;
  /** Absolute path of the model the profile starts with. */
  modelPath: string;
  /** Saves test-results/e2e/<step>-<label>.png and returns its path. */
  shot(label: string): Promise<string>;
  /** Merges into the user and remote (machine) settings.json (undefined removes a key); VS Code picks it up live. */
  updateSettings(patch: Record<string, unknown>): void;
  log(message: string): void;
}

export interface Step {
  /** Short kebab-case id; the screenshot names start with it. */
  id: string;
  title: string;
  run(ctx: StepContext): Promise<void>;
}

export const resultsDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..", "test-results", "e2e");

export function makeContext(page: Page, profile: Profile, modelPath: string, stepIndex: number, step: Step, log: (m: string) => void): StepContext {
  const prefix = `${String(stepIndex).padStart(2, "0")}-${step.id}`;
  return {
    page,
    profile,
    modelPath,
    shot: async (label) => {
      const file = path.join(resultsDir, `${prefix}-${label}.png`);
      fs.mkdirSync(resultsDir, { recursive: true });
      await page.screenshot({ path: file });
      return file;
    },
    updateSettings: (patch) => updateSettings(profile, patch),
    log,
  };
}

/** Polls `check` until it returns a truthy value; throws with `describe()` on timeout. */
export async function waitUntil<T>(check: () => Promise<T | undefined | false>, opts: { timeoutMs: number; what: string; describe?: () => Promise<string> }): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = opts.describe ? await opts.describe().catch(() => "") : "";
      throw new Error(`timed out after ${opts.timeoutMs / 1000} s waiting for ${opts.what}${detail ? `; ${detail}` : ""}${lastError ? ` (last error: ${String(lastError)})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `.view-line` and labels use U+00A0 for spaces. */
export function normalizeText(text: string): string {
  return text.replace(/\u00a0/g, " ").replace(/\s+/g, " ").trim();
}

export async function waitForWorkbench(page: Page, timeoutMs = 90_000): Promise<void> {
  await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: timeoutMs });
  await page.locator(".statusbar").waitFor({ state: "visible", timeout: timeoutMs });
}

/**
 * Runs a command through the command palette by its title (e.g. "StreamSink: Restart Server").
 * Retries while the command is not listed yet (it appears once the extension host activated it).
 */
export async function runCommand(page: Page, title: string, timeoutMs = 30_000): Promise<void> {
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first();
  await waitUntil(
    async () => {
      await page.keyboard.press("Escape");
      await page.keyboard.press("F1");
      const input = page.locator(".quick-input-widget input");
      await input.waitFor({ state: "visible", timeout: 5000 });
      await input.fill(`>${title}`);
      await row.waitFor({ state: "visible", timeout: 3000 });
      return true;
    },
    { timeoutMs, what: `command "${title}" in the command palette` },
  );
  await page.keyboard.press("Enter");
}

/** Opens a workspace file with Quick Open (Ctrl+P) and waits for its editor tab. */
export async function openFile(page: Page, name: string): Promise<void> {
  await page.keyboard.press("Escape");
  await page.keyboard.press("Control+P");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 10_000 });
  await input.fill(name);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: path.basename(name) }).first().waitFor({ state: "visible", timeout: 15_000 });
  await page.keyboard.press("Enter");
  await page.locator(`.tabs-container .tab[aria-label^="${path.basename(name)}"]`).first().waitFor({ state: "visible", timeout: 15_000 });
  await page.locator(".monaco-editor textarea, .monaco-editor .native-edit-context").first().waitFor({ state: "attached", timeout: 10_000 });
}

/** Types into the focused editor (no auto-closing surprises: type slowly enough for the model). */
export async function typeText(page: Page, text: string, delayMs = 20): Promise<void> {
  await page.keyboard.type(text, { delay: delayMs });
}

/** Text of the active editor's visible lines, normalised. */
export async function editorText(page: Page): Promise<string> {
  const lines = await page.locator(".editor-group-container.active .monaco-editor .view-lines .view-line").allInnerTexts();
  return lines.map((l) => l.replace(/\u00a0/g, " ")).join("\n");
}

/** The frame of the active side-bar/panel webview (click its activity-bar item first). */
export function webviewFrame(page: Page): FrameLocator {
  return page.frameLocator("iframe.webview.ready").frameLocator("#active-frame");
}

/**
 * The webview frame (side bar or editor panel) whose document has `selector`, e.g. "#transcript"
 * for the chat view or "#sequences" for the diagnostics panel: several webviews can be open at once,
 * so `webviewFrame` (the first ready one) is ambiguous then.
 */
export async function webviewFrameWith(page: Page, selector: string, timeoutMs = 30_000): Promise<Frame> {
  return await waitUntil(
    async () => {
      for (const frame of page.frames()) {
        if (frame.isDetached() || frame === page.mainFrame()) continue;
        if ((await frame.locator(selector).count().catch(() => 0)) > 0) return frame;
      }
      return undefined;
    },
    { timeoutMs, what: `a webview with ${selector}`, describe: async () => `frames: ${page.frames().map((f) => f.url().slice(0, 80)).join(", ")}` },
  );
}

/** Clicks an activity-bar item by the start of its aria-label (the view container title). */
export async function openActivity(page: Page, title: string): Promise<void> {
  await page.locator(`.activitybar [aria-label^="${title}"]`).first().click();
}

/** StreamSink's status-bar item (its `name` and accessibility label start with "StreamSink"). */
export function streamSinkStatus(page: Page): Locator {
  return page.locator('.statusbar-item[id*="streamsink.status" i]').first();
}

export interface StatusSnapshot {
  text: string;
  ariaLabel: string;
  spinning: boolean;
  errorIcon: boolean;
}

/** Text, label and icons of the status item, read in one go (no mix of two states). */
export async function statusSnapshot(page: Page): Promise<StatusSnapshot | undefined> {
  const item = streamSinkStatus(page);
  if ((await item.count()) === 0) return undefined;
  const raw = await item.evaluate((el) => {
    const labelled = el.querySelector("[aria-label]") ?? el;
    return {
      text: (el as HTMLElement).innerText,
      ariaLabel: labelled.getAttribute("aria-label") ?? el.getAttribute("aria-label") ?? "",
      spinning: el.querySelector(".codicon-loading, .codicon-modifier-spin") !== null,
      errorIcon: el.querySelector(".codicon-error") !== null,
    };
  }, undefined, { timeout: 2000 });
  return { ...raw, text: normalizeText(raw.text) };
}

/** Messages of the notification toasts currently shown. */
export async function toastMessages(page: Page): Promise<string[]> {
  return (await page.locator(".notifications-toasts .notification-list-item-message").allInnerTexts()).map(normalizeText);
}

/** Closes every notification toast (so later steps start clean). */
export async function clearToasts(page: Page): Promise<void> {
  await runCommand(page, "Notifications: Clear All Notifications").catch(() => {});
  await page.keyboard.press("Escape");
}
