// Hiero's public API.
import './tensor-methods.ts';

export { init, shutdown, shutdownQuietly, runtime, isInitialised, deviceLost } from './context.ts';
export { acquireDevice, describeAdapter, NO_ADAPTER_MESSAGE, PREREQUISITES_COMMAND, SWIFTSHADER_ICD } from './device.ts';
export type { AdapterReport, DeviceOptions } from './device.ts';
export type { MemoryStats } from './memory.ts';
export type { WaitPolicy, WaitStats } from './runtime/waits.ts';
export * from './errors.ts';
export { Tensor, scope, asyncScope, keep, DTYPES, numel } from './tensor.ts';
export { recordStep, ReplayError, type RecordedStep, type RecordedPhase, type RecordStepOptions, type StepOutputs } from './replay.ts';
export type { DType, AnyTypedArray } from './tensor.ts';
export { noGrad, noGradAsync, isGradEnabled, backward } from './autograd.ts';
export type { BackwardOptions } from './autograd.ts';
export { tensor, zeros, ones, full, zerosLike, onesLike, arange, rand, randn, manualSeed, getRandomState, setRandomState } from './ops/creation.ts';
export type { TensorOptions, RandomOptions } from './ops/creation.ts';
export {
  unary, binary, neg, abs, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, silu, gelu, softplus, square, sin, cos,
  reciprocal, add, sub, mul, div, pow, maximum, minimum, clamp, eq, ne, lt, le, gt, ge, where, contiguous, astype, assign, clone,
  UNARY_OPS, BINARY_OPS,
} from './ops/elementwise.ts';
export type { UnaryOpName, BinaryOpName } from './ops/elementwise.ts';
export { sum, mean, max, min, argmax, argmin, logsumexp } from './ops/reduce.ts';
export { reshape, flatten, squeeze, unsqueeze, permute, transpose, slice, concat, expand, detach } from './ops/views.ts';
export type { SliceSpec } from './ops/views.ts';
export { matmul, setMatmulTiles, getMatmulTiles, setMatmulKernel, setMatmulChooser, MATMUL_KERNELS, prepareMatmul, subgroupMatmulRuns } from './ops/matmul.ts';
export { addRmsNorm, rmsNorm, softmax, logSoftmax } from './ops/norm.ts';
export { crossEntropy } from './ops/loss.ts';
export { embedding } from './ops/embedding.ts';
export { rope } from './ops/rope.ts';
export type { RopeOptions } from './ops/rope.ts';
export { swiglu, swigluPacked } from './ops/swiglu.ts';
export { evaluateFused, fusedMap, fusedSum, FusedValue, type FusedBody, type FusedMap, type FusedMaps } from './ops/fused.ts';
export { attention, attentionPacked, appendToCache, MAX_HEAD_DIM, setAttentionKernel, getAttentionKernel } from './ops/attention.ts';
export type { AttentionOptions, AttentionRope, AttentionKernel } from './ops/attention.ts';
export type { CrossEntropyOptions } from './ops/loss.ts';
export type { MatmulTiles, MatmulKernel, MatmulChooser } from './ops/matmul.ts';

import { runtime } from './context.ts';
/** GPU memory held for tensors: bytes in live tensors, pooled for reuse, awaiting destruction, and their peaks. */
export const memory = () => runtime().memory();
/** Forgets the peaks so far: memory().peakBytes then reports the peak from this point on. */
export const resetPeakMemory = () => runtime().pool.resetPeak();
/**
 * Sets the total bytes the buffer pool tries to stay under (Infinity: no budget) and how many released bytes it
 * keeps for reuse across submits. Under the budget's pressure the pool gives pooled memory back before allocating.
 */
export function setMemoryBudget(options: { budgetBytes?: number; poolCapBytes?: number }): void {
  const pool = runtime().pool;
  if (options.budgetBytes !== undefined) pool.budgetBytes = options.budgetBytes;
  if (options.poolCapBytes !== undefined) pool.capBytes = options.poolCapBytes;
}
/** Submits all encoded GPU work now (a step boundary). */
export const flush = () => runtime().flush();
/** Waits for all submitted GPU work; throws any GPU error it raised. */
export const sync = () => runtime().sync();

import { concat as concatTensors } from './ops/views.ts';
import type { Tensor as TensorType } from './tensor.ts';
/** Reads several one-element tensors with a single read-back (joined on the GPU first), as numbers. */
export async function readScalars(tensors: TensorType[]): Promise<number[]> {
  if (tensors.length === 0) return [];
  const flat = tensors.map((t) => (t.dtype === 'f32' ? t.reshape([t.size]) : t.astype('f32').reshape([t.size])));
  const joined = concatTensors(flat, 0);
  flat.forEach((t, i) => t !== tensors[i] && t.dispose());
  try {
    return Array.from(await joined.toArray());
  } finally {
    joined.dispose();
  }
}

export { Module } from './nn/module.ts';
export { Linear, Embedding, RMSNorm } from './nn/layers.ts';
export type { LinearOptions } from './nn/layers.ts';
export { normal, truncatedNormal, lecunNormal, zerosInit, identity } from './nn/init.ts';
export type { InitOptions } from './nn/init.ts';
export { AdamW, AdamAtan2, SGD, SignSGDRows, Optimizer, clipGradNorm, gradientClipScale, decayGroups } from './optim/optimizer.ts';
export type { ParamGroup, AdamWOptions, SGDOptions } from './optim/optimizer.ts';
export { warmupConstant, warmupCosine, warmupStableDecay } from './optim/schedule.ts';
export type { Schedule } from './optim/schedule.ts';
export {
  encodeSafetensors, decodeSafetensors, serializeTensors, saveSafetensors, readSafetensors, loadSafetensors,
  writeFileAtomic, CheckpointError, loadIntoModule, loadHostWeights, uploadTensors,
} from './io/safetensors.ts';
export type { DecodedCheckpoint, HostTensor, StoredDType } from './io/safetensors.ts';
export { decodeTorchCheckpoint, encodeTorchCheckpoint, hostTensorOf, isTorchZip } from './io/torch-pickle.ts';
export type { TorchCheckpoint, TorchDType, TorchTensor } from './io/torch-pickle.ts';
export { scan, scanStep, cumsum, scanRaw, setScanTiling, getScanTiling, setScanChooser } from './ops/scan.ts';
export { causalConv1d } from './ops/conv1d.ts';
export { gatedLinearAttention, gatedLinearAttentionStep, getGlaKernel, glaChunk, setGlaKernel, GLA_MAX_DIM, type GatedLinearAttentionOptions, type GatedLinearAttentionResult, type GlaKernel } from './ops/gla.ts';
export type { ScanTiling, ScanKernel, ScanChooser } from './ops/scan.ts';
export { autotune, applySavedTuning, currentTuning, clearTuning, matmulBucket, scanBucket, attentionBucket } from './tuning.ts';
export type { TuningTable, AutotuneOptions } from './tuning.ts';
export { setAttentionChooser } from './ops/attention.ts';
export type { AttentionChooser } from './ops/attention.ts';
export { sample } from './ops/sample.ts';
export type { SampleOptions } from './ops/sample.ts';
export {
  saveCheckpoint, readManifest, readCheckpointFile, readCheckpointTensors, readCheckpointJson, isCheckpoint, removeUnlisted,
  sha256, MANIFEST, readWeights, assertWeightsSource, parseManifest, verifyEntry,
} from './io/checkpoint.ts';
export type { Manifest, ManifestEntry, CheckpointPayload, SaveHooks, WeightsSource, LoadedWeights } from './io/checkpoint.ts';
export { NonFiniteMonitor, NonFiniteError } from './optim/finite.ts';
export { boundaryProbability, chunkBoundaries, compact, expandChunks, straightThrough, ratioLoss, Chunking } from './ops/chunk.ts';
export {
  diagGRU, diagGRUResidual, diagGRUStep, diagLSTM, diagLSTMResidual, diagLSTMStep, MAX_NEWTON_ITERATIONS, RNN_METHODS, solveDiagGRU, solveDiagLSTM,
  type DiagGRUOptions, type DiagGRUWeights, type DiagLSTMOptions, type DiagLSTMWeights, type NewtonSolution, type RnnMethod,
} from './ops/rnn.ts';
export { dModeGates, plstm2d, plstmBlockTransfer, plstmPathWeights, pModeGates, PLSTM_BLOCK, PLSTM_GATE_NAMES, PLSTM_WHOLE } from './ops/plstm.ts';
export type { Plstm2dOptions, PlstmGates } from './ops/plstm.ts';
