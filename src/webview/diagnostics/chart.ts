// The diagnostics view's chart: KV fill (solid lines, left axis) and tokens per second (dashed,
// right axis) per sequence over time, drawn as SVG elements (no innerHTML).
import type { DiagnosticsView } from "../../../common/diagnosticsView";
import { isRecord, isString } from "../../../common/validate";
import { byId } from "../host";
import { el } from "./dom";

const SVG = "http://www.w3.org/2000/svg";

/** A history sample as far as the chart needs it; fill and rates are read per label, defensively. */
interface Sample {
  time: number;
  fill?: unknown;
  tokensPerSecond?: unknown;
}

function isSample(sample: unknown): sample is Sample {
  return isRecord(sample) && typeof sample.time === "number";
}

/** `record[key]` when record is an object, else undefined. */
function field(record: unknown, key: string): unknown {
  return isRecord(record) ? record[key] : undefined;
}

function svg(name: string, attributes: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

/** The smallest 1, 2 or 5 × 10^k that is ≥ value (1 for nothing to show). */
function niceCeil(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

/** Axis labels: whole numbers from 10 up, otherwise up to two significant decimals. */
function axisRate(value: number): string {
  if (value === 0 || value >= 10) return String(Math.round(value));
  return String(Number(value.toPrecision(2)));
}

export function renderChart(view: DiagnosticsView): void {
  const host = byId("chart");
  const legend = byId("legend");
  host.replaceChildren();
  legend.replaceChildren();
  const history = (view.history as unknown[]).filter(isSample);
  const labels = (view.labels as unknown[]).filter((label): label is string => isString(label));
  if (history.length < 2 || labels.length === 0) {
    host.appendChild(el("p", "muted", "The chart starts once a sequence exists (use chat or completions)."));
    return;
  }
  const width = 640;
  const height = 160;
  const pad = { left: 40, right: 48, top: 8, bottom: 18 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const t0 = history[0]!.time;
  const t1 = history[history.length - 1]!.time;
  const x = (t: number) => pad.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * plotW : 0);
  let maxRate = 0;
  for (const sample of history) {
    for (const label of labels) maxRate = Math.max(maxRate, Number(field(sample.tokensPerSecond, label)) || 0);
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
    rateTick.textContent = axisRate(rateTop * fraction);
    root.appendChild(rateTick);
  }
  const unit = svg("text", { x: width - 2, y: height - 4, class: "axis", "text-anchor": "end" });
  unit.textContent = "tok/s";
  root.appendChild(unit);
  const span = svg("text", { x: pad.left, y: height - 4, class: "axis" });
  span.textContent = `last ${Math.round((t1 - t0) / 1000)} s`;
  root.appendChild(span);
  labels.forEach((label, index) => {
    const fillPoints: string[] = [];
    const ratePoints: string[] = [];
    for (const sample of history) {
      const fill = field(sample.fill, label);
      if (typeof fill === "number") fillPoints.push(`${x(sample.time).toFixed(1)},${(pad.top + plotH * (1 - Math.min(1, fill))).toFixed(1)}`);
      const rate = field(sample.tokensPerSecond, label);
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
