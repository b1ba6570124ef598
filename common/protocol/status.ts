// Server status and configuration: what the server is doing (for the status bar) and the settings
// the client sends it. Part of the StreamSink protocol (common/protocol/index.ts).
import { NotificationType } from "vscode-languageserver-protocol";
import type { Settings } from "../settings";

/** What the server is doing, for the status bar. */
export type ServerState = "starting" | "noModel" | "loading" | "ready" | "error";

export interface ServerStatus {
  state: ServerState;
  /** Human message: what happened and, on error, what to do about it. */
  message: string;
  /** Model file base name without extension, when a model is configured. */
  modelName?: string;
  modelPath?: string;
  /** Backend in use once loaded: "cuda" | "vulkan" | "metal" | "cpu". */
  backend?: string;
  /** GPU device names reported by llama.cpp (empty on CPU). */
  deviceNames?: string[];
  /** Model loading progress 0..1 while state is "loading". */
  progress?: number;
  /** While ready: something about the loaded configuration the user should know (shown once). */
  warning?: string;
}

/** Sent by the server whenever its state changes (loading, ready, error). */
export namespace ServerStatusNotification {
  export const method = "streamsink/serverStatus" as const;
  export const type = new NotificationType<ServerStatus>(method);
}

/**
 * What the client sends as `initializationOptions` and with ConfigureNotification: the sanitised
 * settings plus things that are not user settings (kept out of settings sanitising).
 */
export type ServerConfiguration = Settings & {
  /**
   * Absolute folder where the server may keep files (the extension's global storage + "/kv": chat KV
   * snapshots). Absent: nothing is saved. A ConfigureNotification without it keeps the previous one.
   */
  storagePath?: string;
};

/**
 * Sent by the client after start and whenever a setting changes: the whole sanitised settings
 * object (and the storage folder). The server applies it (reloading the model or contexts when needed).
 */
export namespace ConfigureNotification {
  export const method = "streamsink/configure" as const;
  export const type = new NotificationType<ServerConfiguration>(method);
}
