// A guard in front of the server's IPC message reader. vscode-jsonrpc 9 reads `params.id` of every
// `$/cancelRequest` before validating it, inside the reader's callback: a cancel notification without
// params (or with params null) throws out of the event emitter as an uncaught exception. Found by the
// protocol fuzz test (test/model/fuzz.test.ts). Such messages can cancel nothing: drop them here.
import {
  IPCMessageReader,
  IPCMessageWriter,
  type DataCallback,
  type Disposable,
  type Message,
  type MessageReader,
  type MessageWriter,
  type PartialMessageInfo,
} from "vscode-languageserver/node";
import type { Event } from "vscode-languageserver/node";

const cancelMethod = "$/cancelRequest";

/** Why `message` must not reach vscode-jsonrpc, or undefined when it may. */
export function malformedMessageProblem(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null) return "a message that is not an object";
  const { method, params } = message as { method?: unknown; params?: unknown };
  if (method !== cancelMethod) return undefined;
  const id = typeof params === "object" && params !== null ? (params as { id?: unknown }).id : undefined;
  if (typeof id === "number" || typeof id === "string") return undefined;
  return `a ${cancelMethod} without a numeric or string id`;
}

export class GuardedMessageReader implements MessageReader {
  constructor(
    private readonly inner: MessageReader,
    private readonly onDropped: (problem: string) => void,
  ) {}

  get onError(): Event<Error> {
    return this.inner.onError;
  }

  get onClose(): Event<void> {
    return this.inner.onClose;
  }

  get onPartialMessage(): Event<PartialMessageInfo> {
    return this.inner.onPartialMessage;
  }

  listen(callback: DataCallback): Disposable {
    return this.inner.listen((message: Message) => {
      const problem = malformedMessageProblem(message);
      if (problem !== undefined) {
        this.onDropped(problem);
        return;
      }
      callback(message);
    });
  }

  dispose(): void {
    this.inner.dispose();
  }
}

/** The IPC transport of this process (the extension forks the server with --node-ipc), guarded. */
export function guardedIpcTransport(onDropped: (problem: string) => void): [MessageReader, MessageWriter] {
  return [new GuardedMessageReader(new IPCMessageReader(process), onDropped), new IPCMessageWriter(process)];
}
