// Training HRM/TRM with deep supervision and adaptive halting (ACT), as the official code does it, with all the
// per-sample bookkeeping on the GPU (../shared/design/hrm.md; tests: test/hrm.test.ts):
//   - the batch is a set of slots whose carry persists across optimiser steps; each step runs one segment for
//     every slot, then backward and an optimiser step;
//   - a slot whose example halted is refilled from a fresh candidate batch and reset to the initial states
//     (where(halted, …) on the GPU: no read-back decides anything);
//   - halting: steps ≥ M_max, or (training) Q(halt) > Q(continue) (TRM: Q(halt) > 0), but never before a random
//     minimum drawn with probability ε from {2..M_max};
//   - losses: mean over the batch of the per-sequence mean token cross-entropy (softmax or stablemax), plus
//     0.5 · (BCE(Q(halt), sequence fully correct) + BCE(Q(continue), bootstrapped target)) (HRM); the target is
//     sigmoid(last ? next Q(halt) : max(next Q(halt), next Q(continue))) from an extra no-grad segment.

import {
  CheckpointError,
  AdamW, arange, argmax, assign, crossEntropy, full, fusedMap, fusedSum, keep, noGrad, rand, recordStep, scope, slice,
  tensor, where, type FusedValue, type Optimizer, type RecordedStep, type Tensor,
} from '../engine/index.ts';
import { ffnWidth, HRM, puzzlePrefix, type HRMCarry, type HRMConfig } from './hrm.ts';

export interface PuzzleBatch {
  /** [batch, seqLen] tokens */
  inputs: Int32Array;
  /** [batch, seqLen] target tokens; -100 where nothing is scored */
  labels: Int32Array;
  /** [batch] puzzle identifiers */
  puzzleIds: Int32Array;
}

export interface PuzzleSource {
  next(batch: number): PuzzleBatch;
}

export const IGNORE = -100;

export interface ACTOptions {
  loss?: 'softmax' | 'stablemax';
  /** Seed for the exploration draws (through the engine's generator). */
  training?: boolean;
}

/** Metrics of the sequences that halted in a step (GPU scalars; read them only when logging). */
export interface StepMetrics {
  loss: Tensor;
  halted: Tensor;
  exactCorrect: Tensor;
  tokenAccuracy: Tensor;
  segments: Tensor;
  qAccuracy: Tensor;
}

/** What one step returns: the slots' next state, and its metrics. */
interface StepOutcome extends StepMetrics {
  [name: string]: Tensor;
  slotZH: Tensor;
  slotZL: Tensor;
  slotHalted: Tensor;
  slotSteps: Tensor;
  slotInputs: Tensor;
  slotLabels: Tensor;
  slotIds: Tensor;
}

/**
 * Cross-entropy per position with stablemax instead of softmax (the official default for small data):
 * s(x) = x + 1 (x ≥ 0), 1 / (1 − x) (x < 0);  −log p_y = log Σ_j s(x_j) − log s(x_y).
 */
export function stablemaxCrossEntropy(logits: Tensor, labels: Tensor): Tensor {
  return scope(() => {
    const s = where(logits.ge(0), logits.add(1), logits.neg().add(1).reciprocal());
    const vocab = logits.shape[logits.rank - 1];
    const valid = labels.ne(IGNORE);
    // The classes are filled on the GPU: no upload inside the training step.
    const onehot = arange(vocab).eq(where(valid, labels, 0).unsqueeze(-1)).astype('f32');
    const picked = s.log().mul(onehot).sum(-1);
    return s.sum(-1).log().sub(picked).mul(valid.astype('f32'));
  });
}

/**
 * The elementwise chains and reductions of an ACT step, each one kernel forward and one backward (engine/ops/fused.ts);
 * what each computes is written as the op-by-op chain it replaces. `batch` divides the batch means.
 */
function actMaps(maxSteps: number, exploration: number, batch: number) {
  const bce = (x: FusedValue, y: FusedValue) => x.softplus().sub(x.mul(y));
  /** The sequence is right: every valid token (at least one) predicted. */
  const sequenceRight = (correct: FusedValue, count: FusedValue) => correct.eq(count.maximum(1));
  /** Σ over the batch / B of the sequence's mean token loss + ½ BCE(Q(halt), sequence right) */
  const lossTerms = (tokenLoss: FusedValue, count: FusedValue, correct: FusedValue, qHalt: FusedValue) =>
    tokenLoss.div(count.maximum(1)).add(bce(qHalt, sequenceRight(correct, count)).mul(0.5)).mul(1 / batch);
  return {
    /** where(halted, 0, steps) + 1 */
    nextSteps: fusedMap('act steps', (halted, steps) => halted.select(0, steps).add(1)),
    /** Per sequence: Σ token losses, Σ valid tokens (labels ≠ IGNORE), Σ valid tokens predicted right. */
    sequences: fusedSum('act sequences', (perToken, predicted, labels) => [perToken, labels.ne(IGNORE), predicted.eq(labels).mul(labels.ne(IGNORE))]),
    /** The TRM's loss: lossTerms summed over the batch. */
    loss: fusedSum('act loss', lossTerms),
    /** The HRM's: plus ½ BCE(Q(continue), its bootstrapped target), averaged over the batch. */
    lossWithTarget: fusedSum('act loss', (tokenLoss, count, correct, qHalt, qContinue, target) =>
      lossTerms(tokenLoss, count, correct, qHalt).add(bce(qContinue, target).mul(0.5 / batch))),
    /**
     * minimum(maximum(steps ≥ M, wants), steps ≥ explore · (trunc(r2 · (M − 1)) + 2)) with explore = r1 < ε: halt at
     * M_max or when the Q head says so, but never before a random minimum drawn with probability ε.
     */
    halting: fusedMap('act halting', (wants, r1, r2, steps) =>
      steps.ge(maxSteps).maximum(wants).minimum(steps.ge(r1.lt(exploration).mul(r2.mul(maxSteps - 1).trunc().add(2))))),
    /** sigmoid(where(steps ≥ M, next Q(halt), max(next Q(halt), next Q(continue)))) */
    target: fusedMap('act q target', (steps, qHalt, qContinue) => steps.ge(maxSteps).select(qHalt, qHalt.maximum(qContinue)).sigmoid()),
    /**
     * Over the sequences that halted now: how many, and the sums of sequence right, token accuracy, segments used and
     * the Q head right ((Q(halt) > 0) == sequence right).
     */
    haltedSums: fusedSum('act metrics', (halted, steps, correct, count, qHalt) => [
      halted,
      sequenceRight(correct, count).mul(halted),
      correct.div(count.maximum(1)).mul(halted),
      steps.mul(halted),
      qHalt.gt(0).eq(sequenceRight(correct, count)).mul(halted),
    ]),
    /** Each sum / max(halted, 1). */
    haltedMeans: fusedMap('act metric means', (halted, exact, tokens, segments, q) => {
      const d = halted.maximum(1);
      return [exact.div(d), tokens.div(d), segments.div(d), q.div(d)];
    }),
  };
}

export class ACTTrainer {
  readonly batch: number;
  private carry: HRMCarry;
  private halted: Tensor; // [B] f32 1/0
  private steps: Tensor; // [B] f32
  private inputs: Tensor; // [B, L] i32
  private labels: Tensor; // [B, L] i32
  private puzzleIds: Tensor; // [B] i32
  stepCount = 0;
  private recorded: RecordedStep<Tensor[], StepOutcome> | null = null;
  /** The step's elementwise chains, one kernel each (engine/ops/fused.ts). */
  private readonly fused: ReturnType<typeof actMaps>;

  /** Every optimiser stepped after backward (the main one, and sign-SGD for puzzle embeddings when used). */
  readonly optimizers: Optimizer[];

  constructor(
    readonly model: HRM,
    optimizer: Optimizer | Optimizer[],
    readonly source: PuzzleSource,
    batch: number,
    readonly options: ACTOptions = {},
  ) {
    this.optimizers = Array.isArray(optimizer) ? optimizer : [optimizer];
    this.batch = batch;
    this.fused = actMaps(model.config.haltMaxSteps, model.config.haltExploration, this.batch);
    const L = model.config.seqLen;
    this.carry = model.initialCarry(batch);
    // Every slot starts halted, so the first step fills all of them.
    this.halted = keep(full([batch], 1));
    this.steps = keep(full([batch], 0));
    this.inputs = keep(full([batch, L], 0, { dtype: 'i32' }));
    this.labels = keep(full([batch, L], IGNORE, { dtype: 'i32' }));
    this.puzzleIds = keep(full([batch], 0, { dtype: 'i32' }));
  }

  /** One training step: refill halted slots, one segment, losses, backward, optimiser step. No read-back. */
  step(): StepMetrics {
    const candidate = this.uploadCandidate();
    const out = scope(() => this.stepOf(candidate.inputs, candidate.labels, candidate.puzzleIds, this.carry.zH, this.carry.zL, this.halted, this.steps, this.inputs, this.labels, this.puzzleIds));
    for (const t of Object.values(candidate)) t.dispose();
    return this.advance(out);
  }

  /**
   * The same step, recorded and then replayed (engine/replay.ts): the first three calls run eagerly, the later ones
   * replay the recorded dispatches with the new candidates and the carried slots as arguments.
   */
  async replayedStep(): Promise<StepMetrics> {
    this.recorded ??= recordStep(
      (ci: Tensor, cl: Tensor, cp: Tensor, zH: Tensor, zL: Tensor, halted: Tensor, steps: Tensor, inputs: Tensor, labels: Tensor, puzzleIds: Tensor) =>
        this.stepOf(ci, cl, cp, zH, zL, halted, steps, inputs, labels, puzzleIds),
      { name: `${this.model.config.variant} training step` },
    );
    const candidate = this.uploadCandidate();
    const out = await this.recorded.run(candidate.inputs, candidate.labels, candidate.puzzleIds, this.carry.zH, this.carry.zL, this.halted, this.steps, this.inputs, this.labels, this.puzzleIds);
    for (const t of Object.values(candidate)) t.dispose();
    return this.advance(out);
  }

  /** Dispatches one step replays: 0 until the step has been recorded. */
  get replayedDispatches(): number {
    return this.recorded?.dispatches ?? 0;
  }

  private uploadCandidate(): { inputs: Tensor; labels: Tensor; puzzleIds: Tensor } {
    const B = this.batch;
    const L = this.model.config.seqLen;
    const c = this.source.next(B);
    return {
      inputs: keep(tensor(c.inputs, [B, L], { dtype: 'i32' })),
      labels: keep(tensor(c.labels, [B, L], { dtype: 'i32' })),
      puzzleIds: keep(tensor(c.puzzleIds, [B], { dtype: 'i32' })),
    };
  }

  /** Takes the step's new slot state (disposing the old) and returns its metrics. */
  private advance(out: StepOutcome): StepMetrics {
    const { slotZH, slotZL, slotHalted, slotSteps, slotInputs, slotLabels, slotIds, ...metrics } = out;
    for (const t of [this.carry.zH, this.carry.zL, this.halted, this.steps, this.inputs, this.labels, this.puzzleIds]) t.dispose();
    this.carry = { zH: keep(slotZH), zL: keep(slotZL) };
    this.halted = keep(slotHalted);
    this.steps = keep(slotSteps);
    this.inputs = keep(slotInputs);
    this.labels = keep(slotLabels);
    this.puzzleIds = keep(slotIds);
    for (const t of Object.values(metrics)) keep(t);
    this.stepCount++;
    return metrics;
  }

  /** The step as a function of the candidates and the slots (what a replay's arguments are), returning the next slots. */
  private stepOf(
    candidateInputs: Tensor, candidateLabels: Tensor, candidateIds: Tensor,
    carryH: Tensor, carryL: Tensor, h: Tensor, slotSteps: Tensor, slotInputs: Tensor, slotLabels: Tensor, slotIds: Tensor,
  ): StepOutcome {
    const model = this.model;
    const { variant } = model.config;
    const B = this.batch;
    const hRows = h.reshape([B, 1]);
    const hStates = h.reshape([B, 1, 1]);
    const zH = where(hStates, model.H_init, carryH);
    const zL = where(hStates, model.L_init, carryL);
    const inputs = where(hRows, candidateInputs, slotInputs);
    const labels = where(hRows, candidateLabels, slotLabels);
    const puzzleIds = where(h, candidateIds, slotIds);
    const f = this.fused;
    const steps = f.nextSteps(h, slotSteps);

    const out = model.segment({ zH, zL }, inputs, model.puzzle_emb ? puzzleIds : null);

    // Losses.
    const perToken = this.options.loss === 'softmax' ? crossEntropy(out.logits, labels, { reduction: 'none', ignoreIndex: IGNORE }) : stablemaxCrossEntropy(out.logits, labels);
    const predicted = argmax(out.logits, -1);
    const [tokenLoss, counts, correctCount] = f.sequences(perToken, predicted, labels);

    // Halting decision (training: the Q head may stop early, exploration sets a random minimum).
    const draws = rand([2, B]);
    const halted = f.halting(model.wantsToHalt(out), slice(draws, [0]).reshape([B]), slice(draws, [1]).reshape([B]), steps);

    let loss: Tensor;
    if (variant === 'hrm') {
      // Bootstrapped target for Q(continue) from the next segment (no gradient, no replay buffer).
      const target = noGrad(() => {
        const next = model.segment(out.carry, inputs, model.puzzle_emb ? puzzleIds : null);
        next.logits.dispose();
        next.carry.zH.dispose();
        next.carry.zL.dispose();
        return f.target(steps, next.qHalt, next.qContinue);
      });
      loss = f.lossWithTarget(tokenLoss, counts, correctCount, out.qHalt, out.qContinue, target);
    } else {
      loss = f.loss(tokenLoss, counts, correctCount, out.qHalt);
    }
    loss.backward();
    for (const o of this.optimizers) {
      o.step();
      o.zeroGrad();
    }

    // Metrics over the sequences that halted now.
    const [haltedCount, ...sums] = f.haltedSums(halted, steps, correctCount, counts, out.qHalt);
    const [exact, tokenAcc, segments, qRight] = f.haltedMeans(haltedCount, ...sums);
    return {
      slotZH: out.carry.zH, slotZL: out.carry.zL, slotHalted: halted.detach(), slotSteps: steps.detach(),
      slotInputs: inputs.detach(), slotLabels: labels.detach(), slotIds: puzzleIds.detach(),
      loss: loss.detach(), halted: haltedCount, exactCorrect: exact, tokenAccuracy: tokenAcc, segments, qAccuracy: qRight,
    };
  }

  /** The slots' state, for checkpoints: with it, a resumed run continues exactly where this one stopped. */
  stateTensors(): [string, Tensor][] {
    return [
      ['act.z_H', this.carry.zH], ['act.z_L', this.carry.zL], ['act.halted', this.halted], ['act.steps', this.steps],
      ['act.inputs', this.inputs], ['act.labels', this.labels], ['act.puzzle_identifiers', this.puzzleIds],
    ];
  }

  loadStateTensors(saved: Map<string, Tensor>): void {
    const slots: [string, 'halted' | 'steps' | 'inputs' | 'labels' | 'puzzleIds'][] = [
      ['act.halted', 'halted'], ['act.steps', 'steps'], ['act.inputs', 'inputs'], ['act.labels', 'labels'], ['act.puzzle_identifiers', 'puzzleIds'],
    ];
    for (const [name, field] of slots) {
      const t = saved.get(name);
      if (!t) throw new CheckpointError(`training checkpoint: '${name}' is missing`);
      noGrad(() => assign(this[field], t));
    }
    noGrad(() => {
      assign(this.carry.zH, saved.get('act.z_H')!);
      assign(this.carry.zL, saved.get('act.z_L')!);
    });
  }

  dispose(): void {
    for (const t of [this.carry.zH, this.carry.zL, this.halted, this.steps, this.inputs, this.labels, this.puzzleIds]) t.dispose();
    this.recorded?.dispose();
  }
}

export interface EvalResult {
  /** Fraction of puzzles fully correct after each segment. */
  exactBySegment: number[];
  /** Fraction of scored cells correct after each segment. */
  cellBySegment: number[];
  /** Predictions [examples][seqLen] after the last segment. */
  predictions: Int32Array[];
}

/** Evaluation always runs `segments` (default M_max) segments from fresh states, and reports every segment. */
export async function evaluatePuzzles(model: HRM, examples: PuzzleBatch & { count: number }, options: { segments?: number; batch?: number } = {}): Promise<EvalResult> {
  const segments = options.segments ?? model.config.haltMaxSteps;
  const L = model.config.seqLen;
  const batchSize = options.batch ?? 64;
  const exact = new Array<number>(segments).fill(0);
  const cell = new Array<number>(segments).fill(0);
  let scored = 0;
  const predictions: Int32Array[] = [];
  for (let start = 0; start < examples.count; start += batchSize) {
    const n = Math.min(batchSize, examples.count - start);
    const inputs = tensor(examples.inputs.slice(start * L, (start + n) * L), [n, L], { dtype: 'i32' });
    const ids = tensor(examples.puzzleIds.slice(start, start + n), [n], { dtype: 'i32' });
    const labels = examples.labels.slice(start * L, (start + n) * L);
    const { logits, halts, qHalt, qContinue } = model.evaluate(inputs, model.puzzle_emb ? ids : null, segments);
    qHalt.forEach((t) => t.dispose());
    qContinue.forEach((t) => t.dispose());
    for (let m = 0; m < segments; m++) {
      const predicted = await scope(() => argmax(logits[m], -1)).toArray();
      for (let e = 0; e < n; e++) {
        let all = true;
        for (let t = 0; t < L; t++) {
          const label = labels[e * L + t];
          if (label === IGNORE) continue;
          const ok = predicted[e * L + t] === label;
          if (ok) cell[m]++;
          all &&= ok;
          if (m === 0) scored++;
        }
        if (all) exact[m]++;
        if (m === segments - 1) predictions.push(Int32Array.from(predicted.slice(e * L, (e + 1) * L)));
      }
      logits[m].dispose();
      halts[m].dispose();
    }
    inputs.dispose();
    ids.dispose();
  }
  return { exactBySegment: exact.map((v) => v / examples.count), cellBySegment: cell.map((v) => v / Math.max(1, scored)), predictions };
}

export interface SegmentMemoryBudget {
  /** Parameters, gradients and AdamW's two moments: 16 bytes per parameter. */
  state: number;
  /** What backward needs of the blocks run with gradient (one L and one H module call under the one-step gradient). */
  kept: number;
  /** Everything else alive at once: the ACT carries, a no-grad block's working set, embeddings and heads. */
  working: number;
  total: number;
}

/**
 * The analytic GPU memory of one ACT training step (a segment with gradient, the bootstrap segment, backward,
 * AdamW), in bytes, for the memory tests and `hiero train`'s report. With E = B · S · D · 4 bytes (one hidden state)
 * and F the SwiGLU width, each block run with gradient keeps its input (E), the fused q|k|v projection (3E, read in
 * place by attention, RoPE applied inside it), the attention output (E), the first norm's output (E), the gate|up
 * projection (2F/D · E) and the SwiGLU output (F/D · E); the N·T − 1 no-grad steps keep nothing. The working set is
 * bounded by 20E: the slots' carries before and after (4E), the injection and embeddings (2E), and one no-grad block
 * at its widest (qkv or gate|up with the SwiGLU output, its input and norm: at most 14E).
 */
export function segmentMemoryBudget(config: HRMConfig, batch: number, parameters: number): SegmentMemoryBudget {
  const prefix = puzzlePrefix(config);
  const e = batch * (config.seqLen + prefix) * config.hidden * 4;
  const widthRatio = ffnWidth(config) / config.hidden;
  const blocksWithGrad = config.variant === 'hrm' ? config.hLayers + config.lLayers : config.lLayers * (config.lCycles + 1);
  const state = 16 * parameters;
  const kept = blocksWithGrad * e * (6 + 3 * widthRatio);
  const working = 20 * e;
  return { state, kept, working, total: state + kept + working };
}

export function makeOptimizer(model: HRM, options: { lr: number; weightDecay: number }): AdamW {
  return new AdamW(model.parameters(), { lr: options.lr, betas: [0.9, 0.95], weightDecay: options.weightDecay, eps: 1e-8 });
}

