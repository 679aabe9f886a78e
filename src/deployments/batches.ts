// Which batch (rolling) or wave (canary) each target of a deployment belongs to.
import type { Strategy, StrategyConfig } from '../protocol/deployment.js';

/** Batch index of each of n targets (in name order) and the number of batches, per strategy. */
export function planBatches(n: number, strategy: Strategy, cfg: Partial<StrategyConfig>): { batches: number[]; count: number } {
  const idx = Array.from({ length: n }, (_, i) => i);
  if (n === 0) return { batches: [], count: 1 };
  if (strategy === 'rolling') {
    const size = cfg.batchSize ?? (cfg.batchPercent ? Math.max(1, Math.ceil((n * cfg.batchPercent) / 100)) : 1);
    const batches = idx.map((i) => Math.floor(i / size));
    return { batches, count: batches[n - 1]! + 1 };
  }
  if (strategy === 'canary') {
    const waves = [...(cfg.waves ?? [10, 50, 100])].sort((a, b) => a - b);
    if (waves[waves.length - 1] !== 100) waves.push(100);
    // cumulative target counts per wave; every wave deploys at least one more target
    const ends: number[] = [];
    for (const w of waves) {
      const end = Math.min(n, Math.max((ends[ends.length - 1] ?? 0) + 1, Math.ceil((n * w) / 100)));
      if (end > (ends[ends.length - 1] ?? 0)) ends.push(end);
    }
    const batches = idx.map((i) => ends.findIndex((e) => i < e));
    return { batches, count: ends.length };
  }
  return { batches: idx.map(() => 0), count: 1 };
}
