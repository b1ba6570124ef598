// Model downloads (issue 6). Part of the StreamSink protocol.
import { NotificationType, RequestType } from "vscode-languageserver-protocol";

export interface DownloadModelParams {
  /** `hf:<user>/<repo>:<quant>`, `hf:<user>/<repo>/<file>.gguf[#branch]`, or an http(s) URL of a .gguf file. */
  uri: string;
  /** Absolute folder to store the model in (the extension's global storage `models` folder). */
  directory: string;
  /** Expected SHA-256 (hex) of the file; for hf: URIs the hub's own checksum is used when this is absent. */
  sha256?: string;
  /** Identifies this download in DownloadProgressNotification. */
  downloadId: string;
}

export interface DownloadModelResult {
  /** Absolute path of the verified model file. */
  path: string;
  sizeBytes: number;
  sha256: string;
  /** Where the expected checksum came from ("given", "hub", or "none" when only the size could be checked). */
  checksumSource: "given" | "hub" | "none";
  /** The download continued a partial file left by an earlier, interrupted one. */
  resumed: boolean;
  /** The file was already there and verified: nothing was downloaded. */
  alreadyPresent: boolean;
}

/** Sent by the client: downloads and verifies a model (resumable; cancel the request to stop it, keeping the partial file). */
export namespace DownloadModelRequest {
  export const method = "streamsink/downloadModel" as const;
  export const type = new RequestType<DownloadModelParams, DownloadModelResult, void>(method);
}

export interface DownloadProgress {
  downloadId: string;
  phase: "resolving" | "downloading" | "verifying";
  downloadedBytes: number;
  /** 0 while unknown. */
  totalBytes: number;
}

/** Sent by the server while a DownloadModelRequest runs. */
export namespace DownloadProgressNotification {
  export const method = "streamsink/downloadProgress" as const;
  export const type = new NotificationType<DownloadProgress>(method);
}
