// What the client configures, at initialize and with every `streamsink/configure`: the settings
// (sanitised again: a bad client must not crash us) and its storage folder, which features and the
// engine follow through ServerContext's storagePath() / onStoragePath().
import path from "node:path";
import type { Disposable } from "../common/disposable";
import { sanitizeSettings, type Settings } from "../common/settings";
import { isRecord, isString } from "../common/validate";
import type { Logger } from "./log";

export class ClientConfiguration {
  private folder: string | undefined;
  private readonly listeners = new Set<(folder: string) => void>();

  constructor(private readonly log: Logger) {}

  /** The client's storage folder (`ServerConfiguration.storagePath`), once it sent a usable one. */
  storagePath(): string | undefined {
    return this.folder;
  }

  onStoragePath(listener: (folder: string) => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Takes one configuration from the client: announces a new storage folder, returns the settings. */
  apply(raw: unknown): Settings {
    const folder = this.storagePathFrom(raw);
    if (folder !== undefined && folder !== this.folder) {
      this.folder = folder;
      for (const listener of [...this.listeners]) listener(folder);
    }
    return this.settingsFrom(raw);
  }

  private settingsFrom(raw: unknown): Settings {
    const record = isRecord(raw) ? raw : {};
    const lookup = (key: string): unknown => {
      let value: unknown = record;
      for (const part of key.split(".")) value = isRecord(value) ? value[part] : undefined;
      return value;
    };
    const { settings, problems } = sanitizeSettings(lookup);
    for (const problem of problems) this.log.warn(`Ignoring invalid setting from the client: ${problem.message}`);
    return settings;
  }

  private storagePathFrom(raw: unknown): string | undefined {
    const value = isRecord(raw) ? raw.storagePath : undefined;
    if (value === undefined) return undefined;
    if (isString(value, 4096) && path.isAbsolute(value)) return value;
    this.log.warn("Ignoring the storage folder from the client: storagePath must be an absolute path. Chat KV snapshots are not saved.");
    return undefined;
  }
}
