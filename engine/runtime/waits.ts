// Waiting for the GPU without spinning a CPU core. Dawn's Node binding polls its event loop with setImmediate for
// as long as any of its promises is pending, so awaiting a read-back keeps one core busy the whole time the GPU
// (on a CPU driver: the other cores) works: measured in bench/waits.ts. The pacer sleeps on a timer for the time
// the submitted work is expected to take, learned from earlier waits on work of the same size, and only then
// starts the wait proper, which by then is short.

/** 'sleep': pace waits on a timer (default under Dawn in Node); 'await': await the GPU's promise at once. */
export type WaitPolicy = 'sleep' | 'await';

/** The part of a wait that is slept: a little short of the estimate, so an early finish costs little. */
const SLEEP_SHARE = 0.9;
/** A wait that resolves within this many ms of waking found the work done: the estimate was too long. */
const ALREADY_DONE_MS = 1;
/** Below this, sleeping costs more (timer granularity) than it saves. */
const MIN_SLEEP_MS = 2;
const MAX_REMEMBERED_SIZES = 64;
/**
 * The longest sleep: past it the wait polls (a workload that long is rare, and an estimate learned from another
 * workload with the same dispatch count must not strand a short one for long).
 */
const MAX_SLEEP_MS = 5000;

export interface WaitStats {
  /** Waits that slept before waiting. */
  paced: number;
  /** Milliseconds slept on the timer, in all. */
  sleptMs: number;
  /** Milliseconds spent in the wait proper after sleeping (the part where Dawn polls), in all. */
  polledMs: number;
}

export class WaitPacer {
  policy: WaitPolicy;
  readonly stats: WaitStats = { paced: 0, sleptMs: 0, polledMs: 0 };
  /** When the oldest submitted, not yet waited-for work was submitted (ms, performance.now()), or null. */
  private outstandingSince: number | null = null;
  private outstandingDispatches = 0;
  /**
   * Learned ms from first submit to completion, by outstanding dispatch count (a repeated step repeats the count).
   * A count not seen before is not slept on: dispatches differ in cost by orders of magnitude (a 1024³ matmul and
   * an add), so no per-dispatch rate predicts a new workload.
   */
  private readonly bySize = new Map<number, number>();

  constructor(policy: WaitPolicy) {
    this.policy = policy;
  }

  submitted(dispatches: number): void {
    if (dispatches === 0) return;
    this.outstandingSince ??= performance.now();
    this.outstandingDispatches += dispatches;
  }

  /** Runs `wait` (a promise that resolves when the GPU is done), sleeping first for the work's expected time. */
  async pace<T>(wait: () => Promise<T>): Promise<T> {
    const since = this.outstandingSince;
    const size = this.outstandingDispatches;
    this.outstandingSince = null;
    this.outstandingDispatches = 0;
    if (this.policy === 'await' || since === null) return wait();
    const expected = this.bySize.get(size) ?? 0;
    const sleep = Math.min(MAX_SLEEP_MS, since + SLEEP_SHARE * expected - performance.now());
    let slept = 0;
    if (sleep >= MIN_SLEEP_MS) {
      const start = performance.now();
      await new Promise((resolve) => setTimeout(resolve, sleep));
      slept = performance.now() - start;
      this.stats.paced++;
      this.stats.sleptMs += slept;
    }
    const woke = performance.now();
    const result = await wait();
    const done = performance.now();
    this.stats.polledMs += done - woke;
    this.learn(size, slept > 0 && done - woke <= ALREADY_DONE_MS ? null : done - since, expected);
    return result;
  }

  /** `observed`: ms from submit to completion, or null when the work was already done on waking (shrink instead). */
  private learn(size: number, observed: number | null, expected: number): void {
    const next = observed === null ? expected * 0.85 : expected > 0 ? 0.5 * expected + 0.5 * observed : observed;
    if (this.bySize.size >= MAX_REMEMBERED_SIZES && !this.bySize.has(size)) this.bySize.clear();
    this.bySize.set(size, next);
  }
}
