// Registers the side-panel chat: the webview view, its commands, and the persisted chat store.
import * as vscode from "vscode";
import type { ServerConnection } from "../client";
import { registerCommands } from "../commands";
import { log } from "../log";
import { ChatViewProvider, chatViewId } from "./chatView";
import { ChatStore, FolderStorage } from "./store";
import { errorMessage } from "../../common/errors";

export async function registerChat(context: vscode.ExtensionContext, server: ServerConnection): Promise<void> {
  const folder = vscode.Uri.joinPath(context.globalStorageUri, "chats").fsPath;
  let store: ChatStore;
  try {
    store = await ChatStore.open(new FolderStorage(folder), {
      onError: (error) => log.error(`Could not save the chat history in ${folder}: ${errorMessage(error)}`),
    });
  } catch (error) {
    const message = `StreamSink could not read its chat history in ${folder}: ${errorMessage(error)}. Check the folder's permissions and reload the window.`;
    log.error(message);
    void vscode.window.showErrorMessage(message);
    return;
  }
  for (const problem of store.problems) log.warn(`Chat history: ${problem}`);
  const provider = new ChatViewProvider(context, server, store);
  context.subscriptions.push(
    provider,
    vscode.window.registerWebviewViewProvider(chatViewId, provider, { webviewOptions: { retainContextWhenHidden: true } }),
    ...registerCommands(server, [
      { id: "streamsink.chat.newChat", requiresReady: false, run: () => provider.newChat() },
      { id: "streamsink.chat.addSelection", requiresReady: false, run: () => provider.attach("selection") },
      { id: "streamsink.chat.addFile", requiresReady: false, run: () => provider.attach("file") },
    ]),
  );
}
