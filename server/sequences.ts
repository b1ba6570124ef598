// Where the features that own StreamingLLM sequences (chat, completions) make their accounting
// visible to diagnostics and the status bar, without diagnostics reaching into the features.
import type { SequenceStats } from "../common/kvStats";

export interface StatsSource {
  /** "chat", "completion", … */
  readonly label: string;
  /** Current accounting, or undefined while the feature holds no sequence. */
  stats(): SequenceStats | undefined;
  /** Drops the feature's cached KV (Reset Chat Cache / Reset Completion Cache). */
  reset?(): Promise<void>;
}

export class SequenceRegistry {
  private readonly sources = new Map<string, StatsSource>();

  add(source: StatsSource): { dispose(): void } {
    this.sources.set(source.label, source);
    return { dispose: () => this.sources.delete(source.label) };
  }

  get(label: string): StatsSource | undefined {
    return this.sources.get(label);
  }

  /** Stats of every sequence that currently exists. */
  all(): SequenceStats[] {
    const result: SequenceStats[] = [];
    for (const source of this.sources.values()) {
      const stats = source.stats();
      if (stats) result.push(stats);
    }
    return result;
  }
}
