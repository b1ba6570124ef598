// The server's life as the user sees it: the status bar and the error notices follow its status,
// settings changes reach it (a live reconfigure or a restart), and the Show Log / Restart Server commands.
import * as vscode from "vscode";
import { DisposableStore } from "../common/disposable";
import { registerCommands } from "./commands";
import { needsServerRestart, readSettings, reportProblems, section } from "./config";
import type { FeatureContext } from "./feature";
import { logChannel } from "./log";
import { StatusNotifications } from "./statusNotifications";

export function register({ server, statusBar, log }: FeatureContext): vscode.Disposable {
  const lifecycle = new DisposableStore();
  const notifications = lifecycle.add(new StatusNotifications());
  lifecycle.add(
    server.onStatus((status) => {
      statusBar.update(status);
      // Error notifications close by themselves once the error is fixed (src/statusNotifications.ts).
      notifications.update(status, server.running !== undefined);
    }),
  );
  lifecycle.add(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(section)) return;
      const next = readSettings();
      reportProblems(next.problems);
      log.info(`Settings changed: ${JSON.stringify(next.settings)}`);
      if (needsServerRestart(event)) {
        await server.configure(next.settings);
        await server.restart();
      } else {
        await server.configure(next.settings);
      }
    }),
  );
  lifecycle.add(
    registerCommands(server, [
      { id: "streamsink.showLog", requiresReady: false, run: () => logChannel().show() },
      { id: "streamsink.restartServer", requiresReady: false, run: () => server.restart() },
    ]),
  );
  return lifecycle;
}
