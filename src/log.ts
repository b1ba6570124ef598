// The extension's one log channel ("StreamSink", a LogOutputChannel). The language client writes the
// server's messages into the same channel, so everything a user needs for a bug report is in one place.
import * as vscode from "vscode";

let channel: vscode.LogOutputChannel | undefined;

export function logChannel(): vscode.LogOutputChannel {
  channel ??= vscode.window.createOutputChannel("StreamSink", { log: true });
  return channel;
}

export const log = {
  error: (message: string, ...args: unknown[]) => logChannel().error(message, ...args),
  warn: (message: string, ...args: unknown[]) => logChannel().warn(message, ...args),
  info: (message: string, ...args: unknown[]) => logChannel().info(message, ...args),
  debug: (message: string, ...args: unknown[]) => logChannel().debug(message, ...args),
};

export type Log = typeof log;
