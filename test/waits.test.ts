// The wait pacer (engine/runtime/waits.ts) on a fake GPU whose work takes a known time: it learns the time of a
// repeated workload, sleeps most of it on a timer and polls only the rest; 'await' never sleeps. The runtime's
// policy switch is checked on the real device. Bounds are loose (timers on a loaded 2-core machine run late).

import { describe, expect, it } from 'vitest';
import { runtime, tensor } from '../engine/index.ts';
import { WaitPacer } from '../engine/runtime/waits.ts';
import { useDevice } from './helpers.ts';

useDevice();

/** Work that completes `ms` after it was submitted, as a GPU queue would. */
function fakeWork(pacer: WaitPacer, ms: number, dispatches: number): () => Promise<void> {
  const doneAt = performance.now() + ms;
  pacer.submitted(dispatches);
  return () => new Promise((resolve) => setTimeout(resolve, Math.max(0, doneAt - performance.now())));
}

describe('WaitPacer', () => {
  it('sleeps most of a repeated wait once it has seen the workload', async () => {
    const pacer = new WaitPacer('sleep');
    for (let i = 0; i < 6; i++) await pacer.pace(fakeWork(pacer, 40, 100));
    const before = { ...pacer.stats };
    await pacer.pace(fakeWork(pacer, 40, 100));
    const slept = pacer.stats.sleptMs - before.sleptMs;
    const polled = pacer.stats.polledMs - before.polledMs;
    expect(pacer.stats.paced).toBe(before.paced + 1);
    expect(slept).toBeGreaterThan(20);
    expect(polled).toBeLessThan(slept);
  });

  it('does not sleep on a workload of a size it has not seen (a heavy one must not strand a light one)', async () => {
    const pacer = new WaitPacer('sleep');
    for (let i = 0; i < 4; i++) await pacer.pace(fakeWork(pacer, 60, 1));
    const paced = pacer.stats.paced;
    const t0 = performance.now();
    await pacer.pace(fakeWork(pacer, 2, 500));
    expect(pacer.stats.paced).toBe(paced);
    expect(performance.now() - t0).toBeLessThan(50);
  });

  it("never sleeps under 'await', nor when nothing was submitted", async () => {
    const pacer = new WaitPacer('await');
    for (let i = 0; i < 3; i++) await pacer.pace(fakeWork(pacer, 10, 5));
    expect(pacer.stats.paced).toBe(0);
    const sleeper = new WaitPacer('sleep');
    await sleeper.pace(() => Promise.resolve());
    expect(sleeper.stats.paced).toBe(0);
  });

  it('the runtime reads back the same values under both policies, and refuses an unknown one by name', async () => {
    const rt = runtime();
    const saved = rt.waitPolicy;
    try {
      for (const policy of ['sleep', 'await'] as const) {
        rt.waitPolicy = policy;
        const t = tensor([1, 2, 3]).mul(2);
        expect([...(await t.toArray())]).toEqual([2, 4, 6]);
        t.dispose();
      }
      expect(() => ((rt as { waitPolicy: string }).waitPolicy = 'spin')).toThrow(/waitPolicy: expected 'sleep' or 'await', got "spin"/);
    } finally {
      rt.waitPolicy = saved;
    }
  });
});
