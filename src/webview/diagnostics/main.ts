// StreamSink cache diagnostics webview. Renders the view the extension posts (built in
// common/diagnosticsView.ts) with DOM APIs only: textContent for every string, SVG elements for the
// chart. Sends `ready` first; the extension then posts `view` (or `unavailable`) about once a second.
// @ts-check
(function () {
  "use strict";
  // eslint-disable-next-line no-undef
  const vscode = acquireVsCodeApi();
  const SVG = "http://www.w3.org/2000/svg";

  /** @param {string} id */
  const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

  /** @param {unknown} value */
  const isString = (value) => typeof value === "string";
  /** @param {unknown} value */
  const isArray = (value) => Array.isArray(value);
  /** @param {unknown} value @returns {value is Record<string, any>} */
  const isRecord = (value) => typeof value === "object" && value !== null && !Array.isArray(value);

  /** @param {unknown} rows */
  function validRows(rows) {
    return isArray(rows) && /** @type {unknown[]} */ (rows).every((row) => isRecord(row) && isString(row.label) && isString(row.value));
  }

  /** @param {any} view */
  function validView(view) {
    return (
      isRecord(view) &&
      isString(view.state) &&
      isString(view.headline) &&
      isArray(view.notices) &&
      view.notices.every(isString) &&
      isArray(view.sequences) &&
      view.sequences.every(
        (/** @type {any} */ s) =>
          isRecord(s) && isString(s.label) && isString(s.fillText) && typeof s.fraction === "number" && isArray(s.sinks) && validRows(s.rows),
      ) &&
      validRows(view.process) &&
      validRows(view.model) &&
      validRows(view.memory) &&
      isArray(view.history) &&
      isArray(view.labels) &&
      isString(view.updated)
    );
  }

  /**
   * @param {string} tag
   * @param {string} [className]
   * @param {string} [text]
   */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** @param {HTMLElement} table @param {{label: string, value: string, title?: string}[]} rows */
  function renderRows(table, rows) {
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
      if (isString(entry.title)) row.title = /** @type {string} */ (entry.title);
      row.append(head, cell);
      table.appendChild(row);
    }
  }

  /** @param {any} sequence */
  function renderSequence(sequence) {
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

  /**
   * @param {string} name
   * @param {Record<string, string | number>} attributes
   */
  function svg(name, attributes) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    return node;
  }

  /** @param {any} view */
  /** The smallest 1, 2 or 5 × 10^k that is ≥ value (1 for nothing to show). */
  function niceCeil(/** @type {number} */ value) {
    if (!(value > 0)) return 1;
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 5, 10]) if (step * magnitude >= value) return step * magnitude;
    return 10 * magnitude;
  }

  /** Axis labels: whole numbers from 10 up, otherwise up to two significant decimals. */
  function formatRate(/** @type {number} */ value) {
    if (value === 0 || value >= 10) return String(Math.round(value));
    return String(Number(value.toPrecision(2)));
  }

  function renderChart(view) {
    const host = byId("chart");
    const legend = byId("legend");
    host.replaceChildren();
    legend.replaceChildren();
    const history = view.history.filter((/** @type {any} */ s) => isRecord(s) && typeof s.time === "number");
    const labels = view.labels.filter(isString);
    if (history.length < 2 || labels.length === 0) {
      host.appendChild(el("p", "muted", "The chart starts once a sequence exists (use chat or completions)."));
      return;
    }
    const width = 640;
    const height = 160;
    const pad = { left: 40, right: 48, top: 8, bottom: 18 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const t0 = history[0].time;
    const t1 = history[history.length - 1].time;
    const x = (/** @type {number} */ t) => pad.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * plotW : 0);
    let maxRate = 0;
    for (const sample of history) {
      for (const label of labels) maxRate = Math.max(maxRate, Number(sample.tokensPerSecond?.[label]) || 0);
    }
    // A round top for the tokens/s axis (1, 2 or 5 × 10^k), so the ticks read 0 / half / top cleanly.
    const rateTop = niceCeil(maxRate * 1.05);
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "KV fill (lines, left axis) and tokens per second (dashed, right axis) over time" });
    for (const fraction of [0, 0.5, 1]) {
      const y = pad.top + plotH * (1 - fraction);
      root.appendChild(svg("line", { x1: pad.left, x2: pad.left + plotW, y1: y, y2: y, class: "grid" }));
      const tick = svg("text", { x: pad.left - 4, y: y + 4, class: "axis", "text-anchor": "end" });
      tick.textContent = `${Math.round(fraction * 100)}%`;
      root.appendChild(tick);
      const rateTick = svg("text", { x: pad.left + plotW + 4, y: y + 4, class: "axis" });
      rateTick.textContent = formatRate(rateTop * fraction);
      root.appendChild(rateTick);
    }
    const unit = svg("text", { x: width - 2, y: height - 4, class: "axis", "text-anchor": "end" });
    unit.textContent = "tok/s";
    root.appendChild(unit);
    const span = svg("text", { x: pad.left, y: height - 4, class: "axis" });
    span.textContent = `last ${Math.round((t1 - t0) / 1000)} s`;
    root.appendChild(span);
    labels.forEach((/** @type {string} */ label, /** @type {number} */ index) => {
      const fillPoints = [];
      const ratePoints = [];
      for (const sample of history) {
        const fill = sample.fill?.[label];
        if (typeof fill === "number") fillPoints.push(`${x(sample.time).toFixed(1)},${(pad.top + plotH * (1 - Math.min(1, fill))).toFixed(1)}`);
        const rate = sample.tokensPerSecond?.[label];
        if (typeof rate === "number") ratePoints.push(`${x(sample.time).toFixed(1)},${(pad.top + plotH * (1 - rate / rateTop)).toFixed(1)}`);
      }
      root.appendChild(svg("polyline", { points: ratePoints.join(" "), class: `rate series-${index % 4}` }));
      root.appendChild(svg("polyline", { points: fillPoints.join(" "), class: `fill series-${index % 4}` }));
      const item = el("span", `legend-item series-${index % 4}`);
      item.appendChild(el("span", "swatch"));
      item.appendChild(document.createTextNode(`${label}: KV fill (solid), tokens/s (dashed)`));
      legend.appendChild(item);
    });
    host.appendChild(root);
  }

  /** @param {any} view */
  function render(view) {
    byId("headline").textContent = view.headline;
    document.body.dataset.state = view.state;
    const notices = byId("notices");
    notices.replaceChildren(...view.notices.map((/** @type {string} */ text) => el("p", "notice", text)));
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

  /** @param {string} message */
  function renderUnavailable(message) {
    byId("headline").textContent = "StreamSink server unavailable";
    document.body.dataset.state = "unavailable";
    byId("notices").replaceChildren(el("p", "notice", message));
  }

  window.addEventListener("message", (event) => {
    const message = event.data;
    if (!isRecord(message)) return;
    if (message.type === "view" && validView(message.view)) {
      vscode.setState({ view: message.view });
      render(message.view);
    } else if (message.type === "unavailable" && isString(message.message)) {
      renderUnavailable(message.message);
    }
  });

  byId("copy").addEventListener("click", () => vscode.postMessage({ type: "copy" }));
  byId("restart").addEventListener("click", () => vscode.postMessage({ type: "restartServer" }));

  const saved = vscode.getState();
  if (isRecord(saved) && validView(saved.view)) render(saved.view);
  vscode.postMessage({ type: "ready" });
})();
