// The StreamSink protocol: every custom LSP message between the extension host (client) and the
// language server, one namespace per message, each with its method name, its typed message and a
// note saying which side sends it. One file per feature; messages that serve only tests and
// benchmarks sit in the `bench` namespace. Imported by both sides; never imports `vscode`.
export * from "./status";
export * from "./generate";
export * from "./diagnostics";
export * from "./models";
export * from "./chat";
export * from "./completion";
export * as bench from "./bench";
export { ErrorCodes } from "../errors";
