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

/** The one errorMessage lives in common/errors.ts; re-exported for the server's modules. */
export { errorMessage } from "../common/errors";
