// Checks what the extension posts to the diagnostics webview (common/diagnosticsView.ts's
// PanelMessage) and what the page saved in its state, with common/validate.ts. The chart's samples
// are checked one by one when drawn (chart.ts), so one odd sample does not hide the whole view.
import type { DiagnosticsView, PanelMessage, Row, SequenceView } from "../../../common/diagnosticsView";
import { isRecord, isString } from "../../../common/validate";

function isArrayOf<T>(value: unknown, check: (item: unknown) => item is T): value is T[] {
  return Array.isArray(value) && value.every((item) => check(item));
}

function isRow(row: unknown): row is Row {
  return isRecord(row) && isString(row.label) && isString(row.value);
}

function isSequence(sequence: unknown): sequence is SequenceView {
  return (
    isRecord(sequence) &&
    isString(sequence.label) &&
    isString(sequence.fillText) &&
    typeof sequence.fraction === "number" &&
    Array.isArray(sequence.sinks) &&
    isArrayOf(sequence.rows, isRow)
  );
}

export function isDiagnosticsView(view: unknown): view is DiagnosticsView {
  return (
    isRecord(view) &&
    isString(view.state) &&
    isString(view.headline) &&
    isArrayOf(view.notices, isString) &&
    isArrayOf(view.sequences, isSequence) &&
    isArrayOf(view.process, isRow) &&
    isArrayOf(view.model, isRow) &&
    isArrayOf(view.memory, isRow) &&
    Array.isArray(view.history) &&
    Array.isArray(view.labels) &&
    isString(view.updated)
  );
}

/** A message from the extension, or undefined for anything else. */
export function parsePanelMessage(message: unknown): PanelMessage | undefined {
  if (!isRecord(message)) return undefined;
  if (message.type === "view" && isDiagnosticsView(message.view)) return { type: "view", view: message.view };
  if (message.type === "unavailable" && isString(message.message)) return { type: "unavailable", message: message.message };
  return undefined;
}
