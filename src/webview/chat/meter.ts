// The chat's context meter: how full the KV window is, how often it shifted, how many messages left
// it, the pin budget. "no model" (and no KV figures from before) while no model is loaded.
import type { ViewState } from "../../../common/chatMessages";

export function renderMeter(meter: HTMLElement, state: ViewState | undefined): void {
  meter.replaceChildren();
  const w = state?.window;
  const noModel = state?.server.state === "noModel" || state?.server.state === "error";
  if (!state || (!w && !noModel)) {
    meter.hidden = true;
    return;
  }
  meter.hidden = false;
  const out = w && w.outsideCount > 0 ? `${w.outsideCount} message${w.outsideCount === 1 ? "" : "s"} out of view` : "";
  const text = document.createElement("div");
  text.className = "meter-text";
  if (noModel || !w) {
    text.textContent = ["no model", out].filter((part) => part !== "").join(" · ");
    text.title = "No model is loaded: the chat has no context window until one is.";
    meter.append(text);
    return;
  }
  const bar = document.createElement("div");
  bar.className = "meter-bar";
  const fill = document.createElement("div");
  fill.className = "meter-fill";
  fill.style.width = `${Math.min(100, (100 * w.kvCells) / Math.max(1, w.contextSize))}%`;
  const sink = document.createElement("div");
  sink.className = "meter-sink";
  sink.style.width = `${Math.min(100, (100 * (w.templateSinks + w.pinnedTokens)) / Math.max(1, w.contextSize))}%`;
  bar.append(fill, sink);
  text.textContent = [
    `${w.kvCells} / ${w.contextSize} tokens in view`,
    `${w.shifts} shift${w.shifts === 1 ? "" : "s"}`,
    out,
    `pinned ${w.pinnedTokens} / ${w.pinBudget}`,
  ]
    .filter((part) => part !== "")
    .join(" · ");
  text.title =
    "KV cache of this chat: the first tokens (template + pinned messages) are attention sinks and stay; " +
    "when the window is full the oldest tokens are evicted and the rest shifted in place.";
  meter.append(bar, text);
}
