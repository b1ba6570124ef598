// What every StreamSink webview script shares: the typed VS Code webview API (the page may call
// acquireVsCodeApi once) and element look-up by id.

export interface VsCodeApi<Out> {
  postMessage(message: Out): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi<unknown>;

/** The webview API, its postMessage typed with the messages this page may send. */
export function vscodeApi<Out>(): VsCodeApi<Out> {
  return acquireVsCodeApi() as VsCodeApi<Out>;
}

/** The element with this id; throws if the page's HTML lacks it. */
export function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page.`);
  return element as T;
}
