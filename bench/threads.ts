// Threads benchmark: the time to generate 200 tokens with 1 and 2 llama.cpp threads (and with what
// `streamsink.threads: "auto"` picks on this machine, server/threads.ts), on tinycoder, on the CPU.
// The evidence behind the "auto" rule (physical cores − 1): on a machine whose cores are also busy
// with other work, a thread per core makes every decode wait for the slowest, preempted thread.
//
//   npm run bench:threads -- [--model ../shared/models/tinycoder-16m-f16.gguf] [--tokens 200] [--runs 1] [--json]
//
// Each setting gets a short warm-up, then `--runs` timed runs (the median is reported) of greedy
// decoding from the same prompt with a fresh sequence, never stopping at end of text.
// Prints a table and, last, one JSON line: {"tokens":200,"msByThreads":{"1":…,"2":…},"auto":…}
// (`auto` is the thread count that "auto" resolves to here; its time is msByThreads[auto]).
import { availableParallelism } from "node:os";
import type { LlamaModel } from "node-llama-cpp";
import { resolveThreads } from "../server/threads";
import { flag, int, machine, parseArgs, percentile, round, str, table } from "./cli";
import { models } from "../test/support/paths";

const prompt = "import os\nimport sys\n\n\ndef main(argv):\n    ";

async function generate(model: LlamaModel, threads: number, tokens: number): Promise<number> {
  const context = await model.createContext({ contextSize: 512, threads });
  try {
    const sequence = context.getSequence();
    const input = model.tokenize(prompt);
    const started = performance.now();
    let generated = 0;
    for await (const _token of sequence.evaluate(input, { temperature: 0 })) {
      if (++generated >= tokens) break;
    }
    return performance.now() - started;
  } finally {
    await context.dispose();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const modelPath = str(args, "model", models.tinycoderF16);
  const tokens = Math.max(1, int(args, "tokens", 200));
  const runs = Math.max(1, int(args, "runs", 1));
  const json = flag(args, "json");
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp"); // ESM with top-level await
  const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
  const cores = { physical: llama.cpuMathCores, logical: availableParallelism() };
  const auto = resolveThreads("auto", cores).threads;
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const counts = [...new Set([1, 2, auto])].sort((a, b) => a - b);
  const msByThreads: Record<string, number> = {};
  for (const threads of counts) {
    await generate(model, threads, Math.min(16, tokens));
    const times: number[] = [];
    for (let run = 0; run < runs; run++) times.push(await generate(model, threads, tokens));
    msByThreads[String(threads)] = round(percentile(times, 50), 1);
  }
  await model.dispose();
  await llama.dispose();
  if (!json) {
    const m = machine();
    process.stdout.write(`${m.cpu}, ${cores.physical} physical / ${cores.logical} logical cores, node ${m.node}; ${modelPath}\n`);
    process.stdout.write(
      `${table(
        ["threads", `ms for ${tokens} tokens`, "tokens/s", ""],
        counts.map((threads) => {
          const ms = msByThreads[String(threads)]!;
          return [threads, ms, round((tokens * 1000) / ms, 1), threads === auto ? "← auto" : ""];
        }),
      )}\n`,
    );
  }
  process.stdout.write(`${JSON.stringify({ tokens, msByThreads, auto })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:threads failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
