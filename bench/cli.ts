// Small helpers shared by the benchmark commands (argument parsing, tables, machine facts).
import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { allocatorEnvironment, serverEnvironment } from "../src/reliability/serverProcess";
import { maxOf } from "../common/arrays";

export function parseArgs(argv: readonly string[]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new Error(`Unexpected argument "${a}" (options look like --name value).`);
    const name = a.slice(2);
    const next = argv[i + 1];
    if (next == null || next.startsWith("--")) out.set(name, true);
    else {
      out.set(name, next);
      i++;
    }
  }
  return out;
}

export function str(args: Map<string, string | true>, name: string, fallback?: string): string {
  const v = args.get(name);
  if (typeof v === "string") return v;
  if (fallback != null) return fallback;
  throw new Error(`Missing --${name} <value>.`);
}

export function int(args: Map<string, string | true>, name: string, fallback: number): number {
  const v = args.get(name);
  if (v == null) return fallback;
  const n = Number(v);
  if (typeof v !== "string" || !Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer.`);
  return n;
}

export function num(args: Map<string, string | true>, name: string, fallback: number): number {
  const v = args.get(name);
  if (v == null) return fallback;
  const n = Number(v);
  if (typeof v !== "string" || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${String(v)}`);
  return n;
}

export function flag(args: Map<string, string | true>, name: string): boolean {
  return args.get(name) === true || args.get(name) === "true";
}

export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers.map(String), ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => maxOf(cells.map((r) => r[c]!.length)));
  const line = (r: readonly string[]) => `| ${r.map((v, c) => v.padEnd(widths[c]!)).join(" | ")} |`;
  return [line(cells[0]!), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.slice(1).map(line)].join("\n");
}

export function machine(): { cpu: string; cores: number; memGB: number; node: string } {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    memGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
}

export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * For benchmarks that run the engine in their own process: runs this command again in a child with
 * the language server's environment (serverEnvironment: glibc's malloc settings, read only at
 * start-up), so that RSS and speed are those of the shipped server. Returns true in the parent (the
 * child has run; its exit code is this process's), false where the figures are measured. Values
 * the user set are kept; once all are set nothing is re-run.
 */
export function rerunWithServerEnvironment(): boolean {
  if (Object.keys(allocatorEnvironment).every((name) => process.env[name] !== undefined)) return false;
  const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: serverEnvironment(process.env),
  });
  process.exitCode = child.status ?? 1;
  return true;
}
