// The models feature on the server: `streamsink/downloadModel` with its progress notifications. The
// download itself (resolve, bounded HTTP, resume, verify) is server/model/download/; this module
// checks the request, turns the client's Cancel into a signal and failures into response errors.
import path from "node:path";
import { ResponseError } from "vscode-languageserver/node";
import { DisposableStore, type Disposable } from "../../common/disposable";
import { isSha256, ModelUriError } from "../../common/modelUri";
import {
  DownloadModelRequest,
  DownloadProgressNotification,
  ErrorCodes,
  type DownloadModelParams,
  type DownloadModelResult,
  type DownloadProgress,
} from "../../common/protocol";
import { redactText, redactUrl, secretsOf } from "../../common/redact";
import { check, object, optional, refine, string, withMessage } from "../../common/validate";
import { abortSignalFor } from "../cancellation";
import type { ServerContext } from "../feature";
import { errorMessage } from "../log";
import { DownloadError, downloadPolicy, ModelDownloads } from "../model/download";

const downloadParams = withMessage(
  object({
    uri: string(4096),
    directory: refine(string(4096), (directory) => path.isAbsolute(directory), "must be an absolute path"),
    downloadId: string(200),
    sha256: optional(refine(string(), isSha256, "must be 64 hex digits")),
  }),
  "streamsink/downloadModel needs {uri: string, directory: absolute path, downloadId: string, sha256?: 64 hex digits}.",
);

export function register({ connection, engine, log }: ServerContext): Disposable {
  const features = new DisposableStore();
  const downloads = new ModelDownloads();

  features.add(
    connection.onRequest(DownloadModelRequest.type, async (raw, token): Promise<DownloadModelResult> => {
      const checked = check(downloadParams, raw);
      if (!checked.ok) throw new ResponseError(ErrorCodes.invalidParams, checked.message);
      const params: DownloadModelParams = checked.value;
      const signal = abortSignalFor(token);
      let lastSent = 0;
      const progress = (update: Omit<DownloadProgress, "downloadId">, force = false) => {
        const now = Date.now();
        if (!force && now - lastSent < 200) return;
        lastSent = now;
        void connection.sendNotification(DownloadProgressNotification.type, { downloadId: params.downloadId, ...update });
      };
      try {
        const policy = downloadPolicy(engine.currentSettings?.download.allowHttpHosts ?? []);
        return await downloads.download(params, { signal, policy, progress, log });
      } catch (error) {
        const shown = redactUrl(params.uri);
        if (signal.aborted) {
          log.info(`Download of ${shown} cancelled; what was received is kept to resume later.`);
          throw new ResponseError(ErrorCodes.requestCancelled, "Download cancelled. Download the same model again to resume it.");
        }
        if (error instanceof ResponseError) throw error;
        const message = redactText(
          error instanceof ModelUriError || error instanceof DownloadError
            ? error.message
            : `Downloading ${shown} failed: ${errorMessage(error)}. Run “StreamSink: Download Model” again to resume.`,
          secretsOf(params.uri),
        );
        log.error(message);
        throw new ResponseError(ErrorCodes.internalError, message);
      }
    }),
  );
  return features;
}
