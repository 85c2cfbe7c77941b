// Learning-rate schedules: pure functions of the step (1-based), evaluated on the host each step.

export type Schedule = (step: number) => number;

/** Linear warmup to `peak`, then cosine decay to `min` at `total` steps (held there after). */
export function warmupCosine(options: { peak: number; warmup: number; total: number; min?: number }): Schedule {
  const { peak, warmup, total } = options;
  const min = options.min ?? 0;
  return (step) => {
    if (step <= warmup) return (peak * step) / Math.max(1, warmup);
    const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
    return min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * progress));
  };
}

/** Warmup-stable-decay: linear warmup, a constant plateau, then a linear decay to `min` over the last `decay` steps. */
export function warmupStableDecay(options: { peak: number; warmup: number; stable: number; decay: number; min?: number }): Schedule {
  const { peak, warmup, stable, decay } = options;
  const min = options.min ?? 0;
  return (step) => {
    if (step <= warmup) return (peak * step) / Math.max(1, warmup);
    if (step <= warmup + stable) return peak;
    const progress = Math.min(1, (step - warmup - stable) / Math.max(1, decay));
    return peak + (min - peak) * progress;
  };
}

/** Linear warmup to `peak` over `warmup` steps, then constant (the HRM reference code's schedule). */
export function warmupConstant(options: { peak: number; warmup: number }): Schedule {
  const { peak, warmup } = options;
  return (step) => (warmup > 0 && step <= warmup ? (peak * step) / warmup : peak);
}
