// Which notifications a server status calls for, as pure decisions (src/statusNotifications.ts shows
// them). An error is shown while it lasts: its notification closes as soon as the status leaves that
// error (fixed, reloading, or another error that replaces it). A warning about a loaded model
// (e.g. a context larger than the trained one) is shown once per distinct text.
import type { ServerStatus } from "./protocol";

export interface NoticePlan {
  /** Close the open error notification (it no longer matches the status). */
  closeError: boolean;
  /** Open an error notification with this text (its key is the status message). */
  openError?: string;
  /** Show this warning (not shown before). */
  warning?: string;
}

/** The error notification's text (after its title, StreamSink) with command links (notifications render Markdown links). */
export function errorNoticeText(status: ServerStatus, serverRunning: boolean): string {
  const settings = `[Open Settings](command:workbench.action.openSettings?${encodeURIComponent(JSON.stringify(["streamsink.model"]))})`;
  const first = serverRunning ? settings : "[Restart Server](command:streamsink.restartServer)";
  return `${status.message} ${first} · [Show Log](command:streamsink.showLog)`;
}

/**
 * What to do for `status`, given the key (status message) of the error notification open now and
 * the warnings already shown.
 */
export function planNotices(status: ServerStatus, openErrorKey: string | undefined, warned: ReadonlySet<string>, serverRunning: boolean): NoticePlan {
  const errorKey = status.state === "error" ? status.message : undefined;
  const plan: NoticePlan = { closeError: openErrorKey !== undefined && openErrorKey !== errorKey };
  if (errorKey !== undefined && openErrorKey !== errorKey) plan.openError = errorNoticeText(status, serverRunning);
  if (status.state === "ready" && status.warning && !warned.has(status.warning)) plan.warning = status.warning;
  return plan;
}
