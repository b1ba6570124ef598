// StreamSink cache diagnostics webview (bundled by esbuild into media/dist/diagnostics.js). Renders
// the view the extension posts (built in common/diagnosticsView.ts) with DOM APIs only: textContent
// for every string, SVG elements for the chart (chart.ts). Sends `ready` first; the extension then
// posts `view` (or `unavailable`) about once a second. Everything received is validated (messages.ts).
import type { DiagnosticsView, Row, SequenceView, WebviewMessage } from "../../../common/diagnosticsView";
import { isRecord, isString } from "../../../common/validate";
import { byId, vscodeApi } from "../host";
import { renderChart } from "./chart";
import { el } from "./dom";
import { isDiagnosticsView, parsePanelMessage } from "./messages";

const vscode = vscodeApi<WebviewMessage>();

function renderRows(table: HTMLElement, rows: readonly Row[]): void {
  table.replaceChildren();
  if (rows.length === 0) {
    const row = el("tr");
    row.appendChild(el("td", "muted", "—"));
    table.appendChild(row);
    return;
  }
  for (const entry of rows) {
    const row = el("tr");
    const head = el("th", undefined, entry.label);
    head.scope = "row";
    const cell = el("td", undefined, entry.value);
    if (isString(entry.title)) row.title = entry.title;
    row.append(head, cell);
    table.appendChild(row);
  }
}

function renderSequence(sequence: SequenceView): HTMLElement {
  const card = el("article", "card");
  const title = el("div", "card-title");
  title.appendChild(el("h3", undefined, sequence.label));
  const reset = el("button", "secondary small", "Reset cache");
  reset.setAttribute("type", "button");
  reset.title = `Drop the ${sequence.label} KV cache`;
  reset.addEventListener("click", () => vscode.postMessage({ type: "resetCache", label: sequence.label }));
  title.appendChild(reset);
  card.appendChild(title);

  const bar = el("div", "bar");
  bar.setAttribute("role", "img");
  bar.setAttribute("aria-label", `KV fill ${sequence.fillText}`);
  const window = el("div", "bar-window");
  window.style.width = `${Math.max(0, Math.min(100, sequence.fraction * 100))}%`;
  const sinks = el("div", "bar-sinks");
  sinks.style.width = `${Math.max(0, Math.min(100, (sequence.sinkFraction || 0) * 100))}%`;
  bar.append(window, sinks);
  card.append(bar, el("div", "fill-text", sequence.fillText));

  const sinkLine = el("div", "sinks");
  sinkLine.appendChild(el("span", "muted", "Sinks: "));
  if (sequence.sinks.length === 0) sinkLine.appendChild(el("span", "muted", "none"));
  for (const text of sequence.sinks) sinkLine.appendChild(el("code", "token", String(text)));
  card.appendChild(sinkLine);

  const table = el("table");
  renderRows(table, sequence.rows);
  card.appendChild(table);
  return card;
}

function render(view: DiagnosticsView): void {
  byId("headline").textContent = view.headline;
  document.body.dataset.state = view.state;
  const notices = byId("notices");
  notices.replaceChildren(...view.notices.map((text) => el("p", "notice", text)));
  const sequences = byId("sequences");
  sequences.replaceChildren();
  if (view.sequences.length === 0) {
    sequences.appendChild(el("p", "muted", "No sequence yet: chat and inline completions create theirs on first use."));
  } else {
    for (const sequence of view.sequences) sequences.appendChild(renderSequence(sequence));
  }
  renderRows(byId("process"), view.process);
  renderRows(byId("memory"), view.memory);
  renderRows(byId("model"), view.model);
  renderChart(view);
  byId("updated").textContent = `Updated ${view.updated}`;
}

function renderUnavailable(message: string): void {
  byId("headline").textContent = "StreamSink server unavailable";
  document.body.dataset.state = "unavailable";
  byId("notices").replaceChildren(el("p", "notice", message));
}

window.addEventListener("message", (event: MessageEvent<unknown>) => {
  const message = parsePanelMessage(event.data);
  if (message?.type === "view") {
    vscode.setState({ view: message.view });
    render(message.view);
  } else if (message?.type === "unavailable") {
    renderUnavailable(message.message);
  }
});

byId("copy").addEventListener("click", () => vscode.postMessage({ type: "copy" }));
byId("restart").addEventListener("click", () => vscode.postMessage({ type: "restartServer" }));

const saved = vscode.getState();
if (isRecord(saved) && isDiagnosticsView(saved.view)) render(saved.view);
vscode.postMessage({ type: "ready" });
