// The settings a model runs with once `streamsink.context.size` is resolved: "auto" becomes a number
// on the server (only it knows the model: server/model/memoryGuard.ts), sinks and shifts are fitted to it,
// and a change of the setting tells the engine whether contexts can just be recreated.
import type { Settings, SettingProblem } from "../common/settings";
import { fitContextSettings } from "./kv/policy";

/** Settings with a known context size: what every context of the loaded model is created with. */
export type ResolvedSettings = Settings & { context: { size: number } };

/** `settings` with the context size resolved to `size`; sinks/shift it had to lower are in `problems`. */
export function resolveContextSettings(settings: Settings, size: number, problems: SettingProblem[] = []): ResolvedSettings {
  const fitted = fitContextSettings({ ...settings.context, size });
  problems.push(...fitted.problems);
  return { ...settings, context: fitted.context };
}

/**
 * Whether a new context setting needs the model reloaded (the memory guarantee is computed with the
 * model before loading): a larger explicit size, or a switch to "auto" (its size depends on the model).
 */
export function contextNeedsReload(previous: Settings["context"]["size"], next: Settings["context"]["size"], current: number): boolean {
  if (next === "auto") return previous !== "auto";
  return next > current;
}

/** The size a context-only change runs with: "auto" keeps the size the model was loaded with. */
export function nextContextSize(next: Settings["context"]["size"], current: number): number {
  return next === "auto" ? current : next;
}

/** Warnings shown together with the ready status (undefined when there are none). */
export function joinWarnings(...warnings: (string | undefined)[]): string | undefined {
  return warnings.filter((warning) => warning).join(" ") || undefined;
}
