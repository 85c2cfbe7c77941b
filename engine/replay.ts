// Replayed steps (tests: test/replay.test.ts; the runtime side: engine/runtime/replay.ts). A step with static shapes —
// a training step (forward, backward, optimiser) or a decoding step — is recorded once and then replayed: its
// dispatches are encoded again over the same buffers in one submit, without running the op, autograd and
// allocation layers. As onnxruntime-web's graph capture and CUDA graphs, it is opt-in and it is checked:
//
// - The step is a function of its arguments. Each call copies the arguments into buffers the recording owns, so a
//   new batch, or state carried from the last step (pass the previous outputs back in), reaches the replay.
// - Calls 1 to `warmup` run eagerly (an optimiser makes its moments on its first step); the next two are recorded and
//   compared (engine/runtime/replay.ts, assertSameStep): anything a replay would get wrong is refused with a
//   ReplayError that names it; later calls replay. Every call, recorded or replayed, is a real step.
// - The learning rate, Adam's bias corrections and random streams are refreshed at each replay as the eager step
//   computes them; host state (step counts, the random generator) advances identically, so a replayed run gives the
//   same numbers as an eager one.
// - Buffers the replay binds are pinned: freeing a tensor the step reads or writes (a disposed model) makes the
//   next replay throw rather than write into memory that has been handed to someone else.

import { runtime } from './context.ts';
import { formatShape } from './errors.ts';
import type { ArgumentCopy } from './runtime.ts';
import { ReplayError } from './runtime.ts';
import { assertSameStep, type CompiledStep, type StepRecording } from './runtime/replay.ts';
import { asyncScope, keep, Storage, Tensor, type DType } from './tensor.ts';

export { ReplayError } from './runtime.ts';

/** What a recorded step returns: named tensors (null where a step has nothing to return). */
export type StepOutputs = Record<string, Tensor | null>;

export type RecordedPhase = 'warm-up' | 'recording' | 'replaying' | 'disposed';

export interface RecordStepOptions {
  /** Shown in errors. */
  name?: string;
  /** Calls that run eagerly before the two recorded ones (default 1). */
  warmup?: number;
}

export interface RecordedStep<A extends Tensor[], R extends StepOutputs> {
  /** Runs one step: eagerly while warming up and recording, then as a replay. Outputs are fresh handles. */
  run(...args: A): Promise<R>;
  /** What the next call does. */
  readonly phase: RecordedPhase;
  /** Dispatches one replay submits (0 until recorded). */
  readonly dispatches: number;
  /** The op label of each dispatch a replay submits, in order (empty until recorded). */
  readonly kernels: readonly string[];
  /** Calls replayed so far. */
  readonly replays: number;
  /** Gives back the buffers the recording held. */
  dispose(): void;
}

interface Signature {
  shape: readonly number[];
  dtype: DType;
}

interface Compiled {
  step: CompiledStep;
  flags: ReturnType<ReturnType<typeof runtime>['compileRecording']>['flags'];
  /** Buffers made inside the step and left in the pool: now the recording's own. */
  scratch: GPUBuffer[];
  /** Buffers held by tensors (parameters, optimiser state, outputs, the arguments) that the replay reads or writes. */
  held: GPUBuffer[];
  /** The first op that binds each held buffer, for errors. */
  firstUse: Map<GPUBuffer, string>;
  outputs: Map<string, Tensor | null>;
}

/**
 * Records `fn` as a replayable step. `fn` must be a function of its arguments and of tensors that stay put (weights,
 * optimiser state); it may be async, but nothing else may run on the GPU while it is recorded.
 */
export function recordStep<A extends Tensor[], R extends StepOutputs>(
  fn: (...args: A) => R | Promise<R>,
  options: RecordStepOptions = {},
): RecordedStep<A, R> {
  const name = options.name ?? 'recorded step';
  const warmup = options.warmup ?? 1;
  if (!Number.isInteger(warmup) || warmup < 0) throw new ReplayError(`${name}: warmup must be a whole number >= 0, got ${warmup}`);
  let calls = 0;
  let replays = 0;
  let signature: Signature[] | null = null;
  let owned: Tensor[] = [];
  let first: StepRecording | null = null;
  let compiled: Compiled | null = null;
  let disposed = false;
  let refused: ReplayError | null = null;

  const checkArguments = (args: Tensor[]) => {
    if (!signature) {
      signature = args.map((a, i) => {
        if (!(a instanceof Tensor)) throw new ReplayError(`${name}: argument ${i + 1} is not a tensor`);
        return { shape: [...a.shape], dtype: a.dtype };
      });
      owned = signature.map((s) => {
        const bytes = Math.max(1, s.shape.reduce((p, d) => p * d, 1)) * 4;
        return keep(new Tensor(new Storage(runtime().alloc(bytes, `${name} argument`, s.shape), bytes), s.shape, s.dtype));
      });
      return;
    }
    if (args.length !== signature.length) throw new ReplayError(`${name}: called with ${args.length} arguments, recorded with ${signature.length}`);
    args.forEach((a, i) => {
      const s = signature![i];
      if (!(a instanceof Tensor)) throw new ReplayError(`${name}: argument ${i + 1} is not a tensor`);
      if (a.dtype !== s.dtype || a.shape.length !== s.shape.length || a.shape.some((d, k) => d !== s.shape[k])) {
        throw new ReplayError(
          `${name}: argument ${i + 1} is ${formatShape(a.shape)} ${a.dtype}, but the step was recorded for ${formatShape(s.shape)} ${s.dtype} ` +
            '(a recorded step has static shapes: record another step for this shape)',
        );
      }
    });
  };

  /** The copies that bring the arguments into the recording's own buffers (a non-contiguous one is copied first). */
  const copiesOf = (args: Tensor[]): { copies: ArgumentCopy[]; temporaries: Tensor[] } => {
    const copies: ArgumentCopy[] = [];
    const temporaries: Tensor[] = [];
    args.forEach((a, i) => {
      let source = a;
      if (!a.isContiguous) temporaries.push((source = a.contiguous()));
      const target = owned[i].buffer(name);
      const buffer = source.buffer(`${name} argument ${i + 1}`);
      if (buffer === target) return;
      copies.push({ source: buffer, sourceOffset: source.offset * 4, target, bytes: Math.max(1, a.size) * 4 });
    });
    return { copies, temporaries };
  };

  /** An eager call's argument copies, encoded into the open batch. */
  const bringArguments = (args: Tensor[]) => {
    const rt = runtime();
    const { copies, temporaries } = copiesOf(args);
    for (const c of copies) rt.copyBuffer(c.source, c.sourceOffset, c.target, 0, c.bytes);
    for (const t of temporaries) t.dispose();
  };

  const eager = async (args: Tensor[]): Promise<R> => {
    bringArguments(args);
    return asyncScope(async () => (await fn(...(owned as A))) as R);
  };

  const record = async (args: Tensor[]): Promise<R> => {
    const rt = runtime();
    bringArguments(args);
    rt.beginRecording(name);
    let result: R;
    try {
      result = await asyncScope(async () => (await fn(...(owned as A))) as R);
    } catch (error) {
      // An error inside fn (a read-back refused by name, among others) ends the recording.
      rt.endRecording();
      throw error;
    }
    const recording = rt.endRecording();
    if (!recording) throw new ReplayError(`${name}: the recording was ended by something else`);
    if (!first) {
      first = recording;
      return result;
    }
    try {
      assertSameStep(first, recording);
    } catch (error) {
      // A refusal stands: later calls raise it again rather than record and compare against a stale recording.
      refused = error as ReplayError;
      throw error;
    }
    first = null;
    compiled = compile(recording, result);
    return result;
  };

  const compile = (recording: StepRecording, result: R): Compiled => {
    const rt = runtime();
    const scratch = new Set<GPUBuffer>();
    const held = new Set<GPUBuffer>();
    const firstUse = new Map<GPUBuffer, string>();
    const note = (buffer: GPUBuffer, origin: string, where: string) => {
      if (origin === 'flag' || scratch.has(buffer) || held.has(buffer)) return;
      firstUse.set(buffer, where);
      if (rt.pool.isPooled(buffer)) {
        if (origin === 'outside') {
          throw new ReplayError(`${name}: ${where} reads a tensor from outside the step that the step frees: a replay would read memory that is no longer its own`);
        }
        rt.pool.claim(buffer);
        scratch.add(buffer);
        return;
      }
      held.add(buffer);
    };
    for (const c of recording.commands) {
      if (c.kind === 'dispatch') c.buffers.forEach((b, k) => note(b, c.origins[k], `dispatch ${c.label}`));
      else if (c.kind === 'upload') note(c.buffer, c.origin, 'an upload');
    }
    for (const t of owned) held.add(t.buffer(name));
    const outputs = new Map<string, Tensor | null>();
    for (const [key, t] of Object.entries(result)) {
      if (t !== null && !(t instanceof Tensor)) throw new ReplayError(`${name}: output '${key}' is not a tensor`);
      outputs.set(key, t ? t.saveForBackward() : null);
      if (t) held.add(t.buffer(name));
    }
    // Pinned buffers that are not pool buffers (placeholders) are harmless: nothing ever releases them.
    for (const b of held) rt.pool.pin(b);
    const { step, flags } = rt.compileRecording(recording);
    return { step, flags, scratch: [...scratch], held: [...held], firstUse, outputs };
  };

  const replay = (args: Tensor[]): R => {
    const c = compiled!;
    const rt = runtime();
    for (const b of c.held) {
      if (rt.pool.isParked(b)) {
        const use = c.firstUse.get(b) ?? (c.outputs.size ? 'an argument or output' : 'an argument');
        throw new ReplayError(`${name}: a tensor the recorded step reads or writes (first at ${use}) has been disposed since it was recorded (a disposed model or optimiser): record the step again`);
      }
    }
    const { copies, temporaries } = copiesOf(args);
    rt.replay(c.step, copies, c.flags, name);
    for (const t of temporaries) t.dispose();
    replays++;
    const out: Record<string, Tensor | null> = {};
    for (const [key, t] of c.outputs) out[key] = t ? t.viewAs(t.shape, t.strides, t.offset) : null;
    return out as R;
  };

  return {
    async run(...args: A): Promise<R> {
      if (disposed) throw new ReplayError(`${name}: the recorded step was disposed`);
      if (refused) throw refused;
      checkArguments(args);
      calls++;
      if (compiled) return replay(args);
      if (calls <= warmup) return eager(args);
      return record(args);
    },
    get phase(): RecordedPhase {
      return disposed ? 'disposed' : compiled ? 'replaying' : calls < warmup ? 'warm-up' : 'recording';
    },
    get dispatches(): number {
      return compiled?.step.dispatches ?? 0;
    },
    get kernels(): readonly string[] {
      return compiled?.step.labels ?? [];
    },
    get replays(): number {
      return replays;
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      const rt = runtime();
      if (compiled) {
        rt.flush();
        for (const b of compiled.held) rt.pool.unpin(b);
        for (const b of compiled.scratch) rt.release(b);
        for (const t of compiled.outputs.values()) t?.dispose();
        rt.releaseFlags(compiled.flags);
        compiled.step.destroy(); // submitted replays still finish: WebGPU frees the memory after them
      }
      for (const t of owned) t.dispose();
    },
  };
}
