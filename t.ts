import { init, manualSeed, AdamW } from './engine/index.ts';
import { ACTTrainer, evaluatePuzzles } from './model/hrm-train.ts';
import { HRM, HRM_PAPER } from './model/hrm.ts';
import { sudokuExample, sudokuSource, sudokuSplit, toBatch } from './model/tasks/datasets.ts';
import { SUDOKU } from './model/tasks/sudoku.ts';
await init();
const spec = SUDOKU['4x4'];
const { train, test } = sudokuSplit(spec, 120, 48, 11);
const givens = test.reduce((s, ex) => s + ex.puzzle.filter((v) => v !== 0).length, 0) / (16 * test.length);
console.log('givens', givens.toFixed(3));
for (const [name, n, t, m, batch, lr, variant, hidden] of [['hrm-1', 1, 1, 2, 64, 1e-2, 'hrm', 32], ['trm', 2, 2, 2, 64, 1e-2, 'trm', 32], ['hrm-2', 2, 2, 2, 64, 1e-2, 'hrm', 32]] as const) {
  manualSeed(6);
  const model = new HRM({ ...HRM_PAPER, variant, vocab: 6, seqLen: 16, hidden, heads: 2, expansion: 2, ffnMultiple: 16, hLayers: variant === 'trm' ? 0 : 1, lLayers: variant === 'trm' ? 2 : 1, hCycles: n, lCycles: t, haltMaxSteps: m, haltExploration: 0.1 });
  const opt = new AdamW(model.parameters(), { lr, betas: [0.9, 0.95], weightDecay: 0.1 });
  const trainer = new ACTTrainer(model, opt, sudokuSource(spec, train, 12), batch, { loss: 'softmax' });
  const t0 = performance.now();
  for (let s = 1; s <= 80; s++) {
    const mm = trainer.step();
    if (s % 20 === 0) {
      const r = await evaluatePuzzles(model, toBatch(test.map(sudokuExample)), { segments: m });
      console.log(name, s, 'loss', (await mm.loss.item()).toFixed(3), 'cell', r.cellBySegment.map((v) => v.toFixed(3)).join('/'), 'exact', r.exactBySegment.map((v) => v.toFixed(3)).join('/'), ((performance.now() - t0) / 1000).toFixed(0), 's');
    }
    for (const x of Object.values(mm)) x.dispose();
  }
  trainer.dispose();
}
