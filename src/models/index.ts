// The models feature on the client: Select Model and Download Model (./modelCommands.ts), with the
// server's download progress routed to the download that asked for it.
import * as vscode from "vscode";
import { DisposableStore } from "../../common/disposable";
import { DownloadProgressNotification } from "../../common/protocol";
import { registerCommands } from "../commands";
import type { FeatureContext } from "../feature";
import { DownloadProgressRouter, downloadModel, selectModel } from "./modelCommands";

export function register({ extension, server }: FeatureContext): vscode.Disposable {
  const models = new DisposableStore();
  const router = new DownloadProgressRouter();
  models.add(
    server.forEachClient((client, scope) => {
      if (client) scope.add(client.onNotification(DownloadProgressNotification.type, (progress) => router.dispatch(progress)));
    }),
  );
  models.add(
    registerCommands(server, [
      { id: "streamsink.selectModel", requiresReady: false, run: () => selectModel(extension, server, router) },
      {
        id: "streamsink.downloadModel",
        requiresReady: false,
        run: (uri?: unknown, sha256?: unknown) => downloadModel(extension, server, router, uri, sha256),
      },
    ]),
  );
  return models;
}
