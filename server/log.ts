// The server's only logger: messages go to the client over the LSP connection (window/logMessage),
// where they land in the extension's one LogOutputChannel with their level.
import type { Connection } from "vscode-languageserver/node";
import { logLevels, type LogLevel } from "../common/settings";

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  trace(message: string): void;
  setLevel(level: LogLevel): void;
}

export function connectionLogger(connection: Connection, initial: LogLevel = "info"): Logger {
  let threshold = logLevels.indexOf(initial);
  const enabled = (level: LogLevel) => logLevels.indexOf(level) <= threshold;
  return {
    error: (message) => connection.console.error(message),
    warn: (message) => enabled("warn") && connection.console.warn(message),
    info: (message) => enabled("info") && connection.console.info(message),
    debug: (message) => enabled("debug") && connection.console.log(message),
    trace: (message) => enabled("trace") && connection.console.log(message),
    setLevel: (level) => {
      threshold = logLevels.indexOf(level);
    },
  };
}

export function errorMessage(error: unknown): string {
  // node-llama-cpp's DisposedError: the model or context went away under a running request.
  if (error instanceof Error && (error.name === "DisposedError" || error.message === "Object is disposed")) {
    return "the model was reloaded or changed while this request ran (new settings or another model were applied); try again";
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
