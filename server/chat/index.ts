// The chat feature of the server: answers the chat messages of common/protocol/chat.ts
// with ONE StreamingLLM stream (stream.ts) on its own context of streamsink.context.size tokens
// (service.ts). Cancelling a ChatSendRequest aborts the sampler between tokens; the result then
// says how long it took from the cancellation's arrival to the sequence being free.
//
// Resumable KV snapshots: when the client gives a storage folder (ctx.storagePath), the chat
// sequence's KV state (sinks + window, a fixed size) and the stream's message map are saved there
// after every answer (one snapshot, server/kv/snapshot.ts), and a stream that has to be (re)created
// — after a restart, a window reload — is loaded from it instead of re-evaluated. A snapshot of
// another chat, model or engine settings, or one that does not match the stored chat, is ignored
// with a note in the log and the stream is rebuilt from the history the client sends.
import { ResponseError, type CancellationToken } from "vscode-languageserver/node";
import { DisposableStore, type Disposable } from "../../common/disposable";
import { bench, ChatOpenRequest, ChatPinRequest, ChatResetRequest, ChatSendRequest, ErrorCodes } from "../../common/protocol";
import type { ServerContext } from "../feature";
import { checkChatResetParams } from "./params";
import { ChatService } from "./service";

export function register(ctx: ServerContext): Disposable {
  const store = new DisposableStore();
  const service = new ChatService(ctx);
  service.setStoragePath(ctx.storagePath());
  store.add(ctx.onStoragePath((folder) => service.setStoragePath(folder)));
  store.add(
    ctx.engine.addListener({
      modelReady: (loaded) => service.modelReady(loaded),
      modelUnloading: () => service.modelUnloading(),
    }),
  );
  store.add(ctx.sequences.add({ label: "chat", stats: () => service.stats(), reset: async () => void (await service.reset()) }));
  const { connection } = ctx;
  store.add(connection.onRequest(ChatSendRequest.method, (params: unknown, token: CancellationToken) => service.send(params, token)));
  store.add(
    connection.onRequest(ChatResetRequest.method, async (params: unknown) => {
      const checked = checkChatResetParams(params);
      if (!checked.ok) throw new ResponseError(ErrorCodes.invalidParams, checked.message);
      return { reset: await service.reset(checked.value.chatId) };
    }),
  );
  store.add(connection.onRequest(ChatOpenRequest.method, (params: unknown) => service.open(params)));
  store.add(connection.onRequest(ChatPinRequest.method, (params: unknown) => service.pin(params)));
  store.add(connection.onRequest(bench.ChatStateRequest.method, () => service.state()));
  return store;
}
