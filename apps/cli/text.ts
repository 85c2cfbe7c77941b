// `hiero train hnet|transformer`, `hiero generate`, `hiero chunks`: byte language models on real text (tests:
// test/hnet.test.ts). The same promises as the puzzle commands (apps/cli/hrm.ts): typed flags, no run written over
// another, Ctrl-C saves, a diverging run stops and saves nothing.

import { readFileSync } from 'node:fs';
import {
  init, manualSeed, memory, NonFiniteMonitor, readManifest, readScalars, sync,
} from '../../engine/index.ts';
import { atWordBoundary, loadCorpus, unigramBitsPerByte } from '../../model/data/corpus.ts';
import { chunkText, HNET_PRESETS, HNetLM, markChunks, type HNetPreset } from '../../model/hnet.ts';
import { generateText } from '../../model/text-generate.ts';
import { flopsPerByte, loadTextModel, TextSession, TRANSFORMER_PRESETS, type TextModelKind } from '../../model/text-session.ts';
import { UsageError, type CommandSpec, type Parsed } from './args.ts';
import { Interrupts, PUZZLE_ONLY, refuseFlags } from './hrm.ts';
import { checkOutput, explainDivergence, freshDirectory, mib, printAdapter, printBesideProgress, printProgress, progressBar } from './output.ts';

export async function trainText(p: Parsed): Promise<number> {
  refuseFlags(p, PUZZLE_ONLY, 'hrm and trm');
  const v = p.values;
  const resumeFrom = (v.resume as string | undefined) ?? null;
  const kind = p.positionals[0] as TextModelKind | undefined;
  let session: TextSession;
  if (resumeFrom !== null) {
    if (kind !== undefined) throw new UsageError(`train --resume continues the run saved in ${resumeFrom}; give no model name ('${kind}')`);
    const fixed = ['corpus', 'preset', 'seq', 'batch', 'lr', 'warmup', 'weight-decay', 'seed'].find((name) => p.given.has(name));
    if (fixed) throw new UsageError(`train --resume: --${fixed} cannot change a resumed run (it continues with its own settings)`);
  } else if (v.preset === 'paper') {
    throw new UsageError("train --preset: 'paper' is an hrm/trm preset; hnet and transformer take tiny, small or small-2stage");
  }
  const preset = ((v.preset as string | undefined) ?? 'tiny') as HNetPreset;
  const corpusName = (v.corpus as string | undefined) ?? 'english';
  if (resumeFrom === null) loadCorpus(corpusName); // a missing or empty corpus is named before anything starts
  const label = corpusName === 'english' ? 'english' : 'text';
  const out = (v.out as string | undefined) ?? resumeFrom ?? (await freshDirectory(`checkpoints/${kind}-${label}`));
  if (out !== resumeFrom) await checkOutput(out, Boolean(v.force));

  printAdapter(await init());
  const steps = (v.steps as number | undefined) ?? 100;
  if (resumeFrom !== null) {
    session = await TextSession.resume(resumeFrom);
    console.log(`resumed ${session.state.model} on ${session.state.corpus} at step ${session.state.step}`);
  } else {
    const seed = (v.seed as number | undefined) ?? 1;
    manualSeed(seed);
    const config = kind === 'hnet' ? structuredClone(HNET_PRESETS[preset]) : structuredClone(TRANSFORMER_PRESETS[preset]);
    const seq = (v.seq as number | undefined) ?? (preset === 'tiny' ? 128 : 512);
    if (kind === 'transformer') (config as { maxSeq: number }).maxSeq = seq;
    session = TextSession.create({
      model: kind!, preset, config, corpus: corpusName, seq, batch: (v.batch as number | undefined) ?? 8,
      lr: (v.lr as number | undefined) ?? (preset === 'tiny' ? 3e-3 : 1e-3), warmup: (v.warmup as number | undefined) ?? Math.max(1, Math.floor(steps / 20)),
      totalSteps: steps, weightDecay: (v['weight-decay'] as number | undefined) ?? 0.1, seed,
    });
  }
  const { state } = session;
  const evalEvery = (v['eval-every'] as number | undefined) ?? Math.max(10, Math.floor(steps / 4));
  const flops = flopsPerByte(state.model, state.config);
  console.log(
    `model: ${state.model === 'hnet' ? `H-Net ${state.preset} (widths ${(state.config as { widths: number[] }).widths.join('/')}, target bytes per chunk ${(state.config as { ratios: number[] }).ratios.join(', ')})` : `byte Transformer ${state.preset}`}, ` +
      `${session.model.parameterCount().toLocaleString('en')} parameters, ~${(flops / 1e6).toFixed(2)} MFLOP per byte trained; ` +
      `corpus: ${session.corpus.description}, ${(session.corpus.train.length / 1e6).toFixed(2)} MB for training; ` +
      `batch ${state.batch} x ${state.seq} bytes; checkpoint: ${out}`,
  );
  console.log(`  held-out unigram baseline: ${unigramBitsPerByte(session.corpus).toFixed(3)} bits/byte`);
  const monitor = new NonFiniteMonitor(['loss', 'gradient norm']);
  let savedStep: number | null = resumeFrom !== null ? state.step : null;
  const interrupts = new Interrupts(() => (savedStep === null ? `${out} (none yet)` : `${out} (step ${savedStep})`));
  const tty = process.stdout.isTTY;
  const start = performance.now();
  const first = state.step;
  let wordShare = '-';
  const save = async () => {
    await monitor.assertFinite();
    await session.save(out);
    savedStep = state.step;
  };
  try {
    for (let s = 1; s <= steps; s++) {
      const m = await session.step();
      monitor.watch(state.step, m.loss, session.optimizer.lastGradNorm);
      const last = s === steps || interrupts.requested;
      if (s % 5 === 0 || s === 1 || last) {
        const [loss, ce] = await readScalars([m.loss, m.ce]);
        await monitor.assertFinite();
        const perChunk = m.counts.map((c) => (state.batch * state.seq) / c.reduce((a, b) => a + b, 0));
        const seconds = (performance.now() - start) / 1000;
        const line = `${progressBar(s, steps)} step ${state.step}  loss ${loss.toFixed(3)}  bits/byte ${(ce / Math.LN2).toFixed(3)}` +
          (perChunk.length ? `  bytes/chunk ${perChunk.map((x) => x.toFixed(2)).join(' / ')}  at word starts ${wordShare}` : '') +
          `  ${((s * state.batch * state.seq) / seconds).toFixed(0)} bytes/s  peak ${mib(memory().peakBytes)} MiB`;
        printProgress(line, last, tty);
      }
      for (const t of [m.loss, m.ce, m.ratio]) t.dispose();
      if (s % evalEvery === 0 || last || interrupts.requested) {
        if (!interrupts.requested) {
          const e = await session.evaluate();
          wordShare = e.wordBoundaryShare.map((x) => `${(100 * x).toFixed(0)}%`).join(' / ') || '-';
          const chunks = e.bytesPerChunk.length ? `, bytes per chunk ${e.bytesPerChunk.map((x) => x.toFixed(2)).join(' / ')}, boundaries at word starts or spaces ${wordShare}` : '';
          const msg = `  held-out after step ${state.step}: ${e.bitsPerByte.toFixed(3)} bits/byte over ${e.bytes} bytes${chunks}`;
          printBesideProgress(msg, tty);
        }
        await save();
      }
      if (interrupts.requested) break;
    }
    await sync();
  } catch (error) {
    throw explainDivergence(error, out, savedStep);
  } finally {
    interrupts.dispose();
    monitor.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  const done = state.step - first;
  console.log(`trained ${done} steps in ${seconds.toFixed(0)} s (${((done * state.batch * state.seq) / seconds).toFixed(0)} bytes/s); peak GPU memory held ${mib(memory().peakBytes)} MiB; checkpoint: ${out} (step ${state.step})`);
  session.dispose();
  return interrupts.requested ? 130 : 0;
}

export const generateSpec: CommandSpec = {
  name: 'generate',
  summary: 'Continues one or more prompts with a trained byte language model (H-Net or the Transformer baseline),\nstreaming the text as it is generated. Several prompts run as one batch.',
  positionals: 'PROMPT [PROMPT ...]',
  minPositionals: 1,
  maxPositionals: 64,
  options: {
    checkpoint: { type: 'string', help: 'the checkpoint directory (required)', value: 'DIR' },
    bytes: { type: 'integer', min: 1, max: 1e6, default: 200, help: 'bytes to generate per prompt' },
    temperature: { type: 'number', min: 0, max: 100, default: 0.8, help: 'softmax temperature (0: the most likely byte)' },
    'top-k': { type: 'integer', min: 0, max: 256, default: 0, help: 'sample among the k most likely bytes (0: all)' },
    seed: { type: 'integer', min: 0, max: 2 ** 32 - 1, default: 1, help: 'seed of the draws' },
  },
};

function checkpointFlag(name: string, p: Parsed): string {
  const dir = p.values.checkpoint as string | undefined;
  if (!dir) throw new UsageError(`${name}: give --checkpoint DIR (for example: hiero ${name} --checkpoint checkpoints/hnet-english "Once upon a time")`);
  return dir;
}

export async function generate(p: Parsed): Promise<number> {
  const dir = checkpointFlag('generate', p);
  const prompts = p.positionals.map((text) => new TextEncoder().encode(text));
  prompts.forEach((bytes, i) => {
    if (bytes.length === 0) throw new UsageError(`generate: prompt ${i + 1} is empty; a prompt needs at least one byte`);
  });
  await readManifest(dir);
  printAdapter(await init());
  const { model, kind, step } = await loadTextModel(dir);
  console.log(`${kind === 'hnet' ? 'H-Net' : 'byte Transformer'} from ${dir} (step ${step}):`);
  const decoder = prompts.map(() => new TextDecoder());
  const single = prompts.length === 1;
  if (single) process.stdout.write(p.positionals[0]);
  const start = performance.now();
  const texts = await generateText(model as HNetLM, prompts, {
    count: p.values.bytes as number, temperature: p.values.temperature as number, topK: p.values['top-k'] as number, seed: p.values.seed as number,
    onBytes: (row, bytes) => {
      const text = decoder[row].decode(bytes, { stream: true });
      if (single) process.stdout.write(text);
      else console.log(`[${row + 1}] …${text.replace(/\n/g, '\\n')}`);
    },
  });
  const seconds = (performance.now() - start) / 1000;
  if (single) process.stdout.write('\n');
  else texts.forEach((bytes, row) => console.log(`\n[${row + 1}] ${p.positionals[row]}${new TextDecoder().decode(bytes)}`));
  const total = texts.reduce((a, t) => a + t.length, 0);
  console.log(`(${total} bytes in ${seconds.toFixed(1)} s: ${(total / seconds).toFixed(1)} bytes/s over ${prompts.length} prompt${single ? '' : 's'})`);
  model.dispose();
  return 0;
}

export const chunksSpec: CommandSpec = {
  name: 'chunks',
  summary: "Shows where an H-Net checkpoint's stages put chunk boundaries in a text: stage 1 as |, stage 2 as ‖\n(a stage-2 boundary is also a stage-1 one), with each stage's bytes per chunk.",
  positionals: 'TEXT',
  minPositionals: 0,
  maxPositionals: 1,
  options: {
    checkpoint: { type: 'string', help: 'the checkpoint directory (required)', value: 'DIR' },
    file: { type: 'string', help: 'read the text from this file instead', value: 'FILE' },
  },
};

export async function chunks(p: Parsed): Promise<number> {
  const dir = checkpointFlag('chunks', p);
  const file = p.values.file as string | undefined;
  if (file && p.positionals.length) throw new UsageError('chunks: give the text as an argument or with --file, not both');
  let text: string;
  if (file) {
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new UsageError(`chunks --file: cannot read ${file}`);
    }
  } else if (p.positionals.length) text = p.positionals[0];
  else throw new UsageError('chunks: give the text to chunk (hiero chunks --checkpoint DIR "some text"), or --file FILE');
  if (text.length === 0) throw new UsageError('chunks: the text is empty');
  await readManifest(dir);
  await init();
  const { model, kind, step } = await loadTextModel(dir);
  if (kind !== 'hnet' || !(model instanceof HNetLM)) throw new UsageError(`chunks: ${dir} holds a byte Transformer, which does not chunk; give an H-Net checkpoint`);
  const chunked = await chunkText(model, text);
  console.log(markChunks(chunked));
  const bytes = new TextEncoder().encode(text);
  chunked.boundaries.forEach((positions, k) => {
    const words = positions.filter((t) => atWordBoundary(bytes, t)).length;
    console.log(`stage ${k + 1}: ${positions.length} chunks, ${(bytes.length / Math.max(1, positions.length)).toFixed(2)} bytes per chunk, ${((100 * words) / Math.max(1, positions.length)).toFixed(0)}% of boundaries at word starts or spaces (step ${step})`);
  });
  model.dispose();
  return 0;
}
