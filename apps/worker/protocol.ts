// What Hiero's inference worker takes and answers (apps/worker/service.ts): plain, structured-cloneable data, the
// same in a browser Web Worker and in a Node worker thread.

import type { ModelKind, ServedRequest } from '../../model/kinds/index.ts';

export type { SegmentView, SolveResult } from '../../model/hrm-session.ts';
export type { ChunkedText as ChunkedTextResult } from '../../model/hnet.ts';
export type { StreamPrediction } from '../../model/sensor-session.ts';
export type { QuickResult } from '../../engine/measure/quick.ts';
export type { WeightsSource as CheckpointSource } from '../../engine/io/checkpoint.ts';

export interface AdapterInfo {
  /** Vendor, architecture and description, as the adapter gives them. */
  name: string;
  runtime: 'browser' | 'node';
  /** A CPU implementation (SwiftShader): correct, but slow. */
  software: boolean;
  /** The limits that bound what fits (buffer sizes, workgroup sizes). */
  limits: Record<string, number>;
  features: string[];
}

export type { ModelKind, ServedRequest } from '../../model/kinds/index.ts';

export interface ModelInfo {
  /** Its kind (hiero models lists them), and the requests it serves (solve, generate, chunks). */
  kind: ModelKind;
  requests: ServedRequest[];
  parameters: number;
  /** The training step the checkpoint holds, when it says. */
  step: number | null;
  /** One line: the architecture and its sizes. */
  description: string;
  /** HRM: the puzzles it solves (sudoku-4x4, maze-9, ...). */
  task?: string;
  /** HRM: the segments it runs by default (its M_max). */
  segments?: number;
  /** H-Net: chunking stages. */
  stages?: number;
  /** HiSS: the sensor task it was trained on (imu, tactile) is `task`; a stream needs at least `chunk` samples. */
  chunk?: number;
}

export interface GenerateRequest {
  /** Bytes to generate (default 100). */
  bytes?: number;
  /** Softmax temperature; 0 takes the most likely byte (default 0.8). */
  temperature?: number;
  /** Sample among the k most likely bytes (0, the default: all). */
  topK?: number;
  /** Seed of the draws (default 1): the same seed and prompt give the same text. */
  seed?: number;
  /** Bytes between read-backs, and so between streamed chunks (default 16). */
  chunk?: number;
  /**
   * Answer the prompt as an instruction (default: true for an instruction model, hrm-text): one line, read whole
   * (PrefixLM), the answer ending at its newline (not included); named errors for empty or too-long instructions.
   */
  instruction?: boolean;
}

export interface GeneratedText {
  /** The new bytes decoded as UTF-8 (a character cut at the end shows as U+FFFD). */
  text: string;
  bytes: Uint8Array;
}

/** The playground's training: a tiny HRM on generated Sudoku, in the worker. */
export interface TrainRequest {
  task?: 'sudoku-4x4' | 'sudoku-6x6';
  /** Hidden size (default 32, the tiny preset). */
  hidden?: number;
  /** Steps (default 300). */
  steps?: number;
  /** Puzzles per step (default 64). */
  batch?: number;
  /** Learning rate (default: the tiny preset's, 1e-2). */
  lr?: number;
  /** Distinct training puzzles, augmented on the fly (default 1000), and held-out puzzles (default 200). */
  train?: number;
  test?: number;
  /** Steps between held-out evaluations (default 25). The defaults are WORKER_TRAINING (model/options.ts). */
  evalEvery?: number;
  /** Steps between progress reports (default 5). */
  progressEvery?: number;
  seed?: number;
  /** Record the training step once and replay it (engine/replay.ts: the same numbers, less host time per step). */
  replay?: boolean;
}

export interface TrainProgress {
  step: number;
  steps: number;
  loss: number;
  samplesPerSecond: number;
  /** Cell and exact accuracy of the training puzzles that halted at this step (absent when none did). */
  trainCell?: number;
  trainExact?: number;
  /** At evaluation points: held-out cell and exact accuracy after the last segment, and exact after each segment. */
  cell?: number;
  exact?: number;
  exactBySegment?: number[];
}

export interface TrainResult {
  /** Steps run (fewer than asked when stopped). */
  steps: number;
  stopped: boolean;
  /** The last progress report. */
  last: TrainProgress | null;
  /** The trained model, now the loaded one. */
  model: ModelInfo;
}

export interface WorkerStatus {
  /** GPU bytes in live tensors, and all the GPU memory the worker holds for tensors (its pool included). */
  inUseBytes: number;
  heldBytes: number;
  training: boolean;
  paused: boolean;
  /** Times the GPU device was lost and re-created, and why the last one was. */
  deviceRecoveries: number;
  lastDeviceLoss: string | null;
}
