// The whole malformed-GGUF corpus (test/support/ggufFuzz.ts, built from tinycoder's real header)
// through the real server process (dist/server.js over IPC), one case after another:
//
//   npm run bench:hostile -- [--model <good gguf>] [--hang-ms 10000] [--json]
//
// Per case: configure the bad file, wait for the status that names it, check the message says what
// the case expects, then make sure the good model serves a request (reloading it when the bad file
// replaced it).
// cases       corpus size
// crashes     server process exits (the bench restarts the server and goes on)
// hangs       cases without a status naming the file within --hang-ms
// unclear     cases whose message did not say what the case expects
// maxMs       slowest case: configure → status naming the file
// peakRssMB   the server's peak RSS (/proc/<pid>/status VmHWM), over every server process
// checkMsTinycoder  median time of the whole model-file check (stat, open, our GGUF reader, sanity)
//             on the real tinycoder, in-process, over 21 runs after one warm-up
// checkMsTinycoderServerFirst  the same check as the server's first load paid it (a fresh process,
//             nothing compiled yet), from the server's log
// With --json, the LAST stdout line is the JSON object.
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ErrorCodes, GenerateRequest, type ServerStatus } from "../common/protocol";
import { checkModelFile } from "../server/modelFile";
import { ggufFuzzCases } from "../test/support/ggufFuzz";
import { models } from "../test/support/paths";
import { startServer, testSettings, type ServerHandle } from "../test/support/serverProcess";
import { flag, int, machine, parseArgs, round, str } from "./cli";
import { maxOf } from "../common/arrays";

function peakRssMB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function alive(server: ServerHandle): boolean {
  return server.process.exitCode === null && server.process.signalCode === null;
}

/** Median time of the full model-file check on `file`. */
export async function measureCheckMs(file: string, runs = 21): Promise<{ medianMs: number; firstMs: number }> {
  const first = (await checkModelFile(undefined, file)).checkMs;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await checkModelFile(undefined, file)).checkMs);
  times.sort((a, b) => a - b);
  return { medianMs: times[Math.floor(times.length / 2)]!, firstMs: first };
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** The good model serves a request (loading it again when a bad file replaced it). */
async function goodModelServes(server: ServerHandle, good: string): Promise<boolean> {
  await server.configure(testSettings({ path: good }));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await withTimeout(server.connection.sendRequest(GenerateRequest.type, { prompt: "def", maxTokens: 2 }), 30_000, "generate");
      return true;
    } catch (error) {
      if ((error as { code?: number }).code !== ErrorCodes.modelNotReady) return false;
      const ready = await server
        .waitForStatus((s) => (s.state === "ready" || s.state === "error") && s.modelPath === good, 60_000)
        .catch(() => undefined);
      if (ready?.state !== "ready") return false;
    }
  }
  return false;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const json = flag(args, "json");
  const good = path.resolve(str(args, "model", models.tinycoderQ8));
  const hangMs = int(args, "hang-ms", 10_000);
  const scratch = await mkdtemp(path.join(tmpdir(), "streamsink-hostile-"));
  const cases = await ggufFuzzCases(good);
  const check = await measureCheckMs(good);
  const startGood = async () => {
    const started = await startServer(testSettings({ path: good }));
    await started.waitForStatus((s) => s.state === "ready", 120_000);
    return started;
  };
  let server = await startGood();
  // The check as the server's first load pays it (cold: a fresh process), from the server's log.
  const checkedInServer = /Checked \S+ in ([\d.]+) ms/.exec(server.logs.find((entry) => /^Checked /.test(entry.message))?.message ?? "");
  let crashes = 0;
  let hangs = 0;
  let unclear = 0;
  let notRecovered = 0;
  let peakRss = 0;
  const times: number[] = [];
  const rows: string[] = [];
  try {
    for (const fuzz of cases) {
      const file = await fuzz.create(scratch);
      const started = performance.now();
      await server.configure(testSettings({ path: file }));
      const status: ServerStatus | undefined = await server
        .waitForStatus((s) => (s.state === "error" || s.state === "ready") && s.message.includes(file), hangMs)
        .catch(() => undefined);
      const ms = performance.now() - started;
      let outcome = "ok";
      if (!alive(server)) {
        crashes++;
        outcome = "CRASH";
      } else if (status === undefined) {
        hangs++;
        outcome = "HANG";
      } else {
        times.push(ms);
        if (!fuzz.expect.test(status.message)) {
          unclear++;
          outcome = "UNCLEAR";
        }
      }
      if (alive(server) && !(await goodModelServes(server, good))) {
        notRecovered++;
        outcome += " not-recovered";
      }
      peakRss = Math.max(peakRss, peakRssMB(server.process.pid));
      if (!alive(server)) {
        server = await startGood();
      }
      const row = `${outcome.padEnd(8)} ${Math.round(ms).toString().padStart(6)} ms  ${fuzz.name}: ${(status?.message ?? "(no status)").replace(file, "<file>")}`;
      rows.push(row);
      process.stderr.write(`${row}\n`);
    }
    peakRss = Math.max(peakRss, peakRssMB(server.process.pid));
  } finally {
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  const result = {
    cases: cases.length,
    crashes,
    hangs,
    unclear,
    notRecovered,
    maxMs: round(times.length ? maxOf(times) : 0, 1),
    peakRssMB: round(peakRss, 1),
    checkMsTinycoder: round(check.medianMs, 2),
    checkMsTinycoderServerFirst: checkedInServer ? Number(checkedInServer[1]) : null,
  };
  const m = machine();
  process.stdout.write(`${rows.join("\n")}\n\n`);
  process.stdout.write(`${m.cores}-core ${m.cpu}, node ${m.node}; good model ${path.basename(good)}\n`);
  process.stdout.write(
    `cases ${result.cases}, crashes ${crashes}, hangs ${hangs}, unclear ${unclear}, not recovered ${notRecovered}, ` +
      `slowest ${result.maxMs} ms, server peak RSS ${result.peakRssMB} MB; ` +
      `model-file check on ${path.basename(good)}: median ${result.checkMsTinycoder} ms (first ${round(check.firstMs, 1)} ms)\n`,
  );
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
