// Registers the side-panel chat: the webview view, its commands, and the persisted chat store
// (read before the server starts: activation waits for it through ctx.waitFor).
import * as vscode from "vscode";
import { DisposableStore } from "../../common/disposable";
import { registerCommands } from "../commands";
import type { FeatureContext } from "../feature";
import { ChatViewProvider, chatViewId } from "./chatView";
import { ChatStore, FolderStorage } from "./store";
import { errorMessage } from "../../common/errors";

/** The chat history, or undefined when it cannot be read (the user was told). */
async function openStore({ extension, log }: FeatureContext): Promise<ChatStore | undefined> {
  const folder = vscode.Uri.joinPath(extension.globalStorageUri, "chats").fsPath;
  let store: ChatStore;
  try {
    store = await ChatStore.open(new FolderStorage(folder), {
      onError: (error) => log.error(`Could not save the chat history in ${folder}: ${errorMessage(error)}`),
    });
  } catch (error) {
    const message = `StreamSink could not read its chat history in ${folder}: ${errorMessage(error)}. Check the folder's permissions and reload the window.`;
    log.error(message);
    void vscode.window.showErrorMessage(message);
    return undefined;
  }
  for (const problem of store.problems) log.warn(`Chat history: ${problem}`);
  return store;
}

export function register(ctx: FeatureContext): vscode.Disposable {
  const chat = new DisposableStore();
  ctx.waitFor(
    openStore(ctx).then((store) => {
      if (!store || chat.isDisposed) return;
      const provider = chat.add(new ChatViewProvider(ctx.extension, ctx.server, store));
      chat.add(vscode.window.registerWebviewViewProvider(chatViewId, provider, { webviewOptions: { retainContextWhenHidden: true } }));
      chat.add(
        registerCommands(ctx.server, [
          { id: "streamsink.chat.newChat", requiresReady: false, run: () => provider.newChat() },
          { id: "streamsink.chat.addSelection", requiresReady: false, run: () => provider.attach("selection") },
          { id: "streamsink.chat.addFile", requiresReady: false, run: () => provider.attach("file") },
        ]),
      );
    }),
  );
  return chat;
}
