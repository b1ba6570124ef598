// Builds the held-out code corpus for the benchmarks, deterministically: the top-level .py files of
// a Python standard library directory, sorted by name, each preceded by a "# file: <name>" line.
//
//   npx tsx bench/corpus.ts [--root /usr/lib/python3.11] [--out bench-results/corpus-py311.py] [--max-bytes N]
//
// Prints the output path, file count, bytes and sha256 (so docs can cite exactly what was measured).
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { num, parseArgs, str } from "./cli";

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const root = str(args, "root", "/usr/lib/python3.11");
  const out = str(args, "out", "bench-results/corpus-py311.py");
  const maxBytes = num(args, "max-bytes", Number.MAX_SAFE_INTEGER);
  const names = (await readdir(root)).filter((n) => n.endsWith(".py")).sort();
  if (names.length === 0) throw new Error(`No .py files in ${root}; pass --root <python stdlib dir>.`);
  const parts: string[] = [];
  let bytes = 0;
  let files = 0;
  for (const name of names) {
    const text = (await readFile(path.join(root, name), "utf8")).replace(/\r\n/g, "\n");
    const part = `# file: ${name}\n${text}\n`;
    if (bytes + Buffer.byteLength(part) > maxBytes) break;
    parts.push(part);
    bytes += Buffer.byteLength(part);
    files++;
  }
  const corpus = parts.join("");
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeFile(out, corpus);
  const sha = createHash("sha256").update(corpus).digest("hex");
  console.log(`${out}: ${files} files from ${root}, ${bytes} bytes, sha256 ${sha}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
