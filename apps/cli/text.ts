// `hiero generate`, `hiero chunks`: trained byte language models of any kind on text (tests: test/hnet.test.ts,
// test/kinds.test.ts). Training is `hiero train` (apps/cli/train.ts).

import { readFileSync } from 'node:fs';
import { assertWeightsSource, init } from '../../engine/index.ts';
import { atWordBoundary } from '../../model/data/corpus.ts';
import { chunkText, markChunks, type HNetLM } from '../../model/hnet.ts';
import { GENERATE_OPTIONS, INPUT_LIMITS, lengthProblem } from '../../model/options.ts';
import { loadTextModel } from '../../model/registry.ts';
import { generateText } from '../../model/text-generate.ts';
import { answerInstructions } from '../../model/instruction-eval.ts';
import { InstructionError, promptBytes } from '../../model/data/instructions.ts';
import { UsageError, type CommandSpec, type Parsed } from './args.ts';
import { printAdapter } from './output.ts';

export const generateSpec: CommandSpec = {
  name: 'generate',
  summary: 'Continues one or more prompts with a trained byte language model (any kind: hiero models), streaming\nthe text as it is generated. Several prompts run as one batch.',
  positionals: 'PROMPT [PROMPT ...]',
  minPositionals: 1,
  maxPositionals: 64,
  options: {
    checkpoint: { type: 'string', help: 'the checkpoint directory (required)', value: 'DIR' },
    bytes: GENERATE_OPTIONS.bytes,
    temperature: GENERATE_OPTIONS.temperature,
    'top-k': GENERATE_OPTIONS['top-k'],
    seed: GENERATE_OPTIONS.seed,
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
    const tooLong = lengthProblem(`generate: prompt ${i + 1}`, bytes.length, INPUT_LIMITS.promptBytes, 'bytes');
    if (tooLong) throw new UsageError(tooLong);
  });
  await assertWeightsSource(dir);
  printAdapter(await init());
  const { model, spec, config, step, kind } = await loadTextModel(dir);
  console.log(`${spec.describe(config, model.parameterCount())}, from ${dir}${step === null ? '' : ` (step ${step})`}:`);
  if (kind === 'hrm-text') {
    // An instruction model answers each prompt as an instruction: read whole (PrefixLM), answered up to a newline.
    const context = 128;
    for (const [i, text] of p.positionals.entries()) {
      try {
        promptBytes(text, context);
      } catch (error) {
        if (error instanceof InstructionError) throw new UsageError(`generate: prompt ${i + 1}: ${error.message}`);
        throw error;
      }
    }
    const start = performance.now();
    const answers = await answerInstructions(model, p.positionals, context, p.values.bytes as number);
    answers.forEach((a, i) => console.log(`${p.positionals[i]}\n  -> ${a}`));
    console.log(`(${answers.length} instruction${answers.length === 1 ? '' : 's'} answered in ${((performance.now() - start) / 1000).toFixed(1)} s)`);
    model.dispose();
    return 0;
  }
  const decoder = prompts.map(() => new TextDecoder());
  if (prompts.length > 1) console.log(`generating ${p.values.bytes} bytes after each of ${prompts.length} prompts (printed when done)`);
  const single = prompts.length === 1;
  if (single) process.stdout.write(p.positionals[0]);
  const start = performance.now();
  const texts = await generateText(model, prompts, {
    count: p.values.bytes as number, temperature: p.values.temperature as number, topK: p.values['top-k'] as number, seed: p.values.seed as number,
    onBytes: (row, bytes) => {
      // One prompt streams as it comes; several are printed once each when done (fragments of rows interleave).
      if (single) process.stdout.write(decoder[row].decode(bytes, { stream: true }));
    },
  });
  const seconds = (performance.now() - start) / 1000;
  if (single) process.stdout.write('\n');
  else texts.forEach((bytes, row) => console.log(`[${row + 1}] ${p.positionals[row]}${new TextDecoder().decode(bytes)}`));
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
  const tooLong = lengthProblem('chunks: the text', new TextEncoder().encode(text).length, INPUT_LIMITS.chunkBytes, 'bytes');
  if (tooLong) throw new UsageError(tooLong);
  await assertWeightsSource(dir);
  await init();
  const { model, spec, step } = await loadTextModel(dir);
  if (!spec.requests.includes('chunks')) {
    model.dispose();
    throw new UsageError(`chunks: ${dir} holds ${spec.title} weights, and only an H-Net chunks; give an H-Net checkpoint`);
  }
  const chunked = await chunkText(model as HNetLM, text);
  console.log(markChunks(chunked));
  const bytes = new TextEncoder().encode(text);
  chunked.boundaries.forEach((positions, k) => {
    const words = positions.filter((t) => atWordBoundary(bytes, t)).length;
    console.log(`stage ${k + 1}: ${positions.length} chunks, ${(bytes.length / Math.max(1, positions.length)).toFixed(2)} bytes per chunk, ${((100 * words) / Math.max(1, positions.length)).toFixed(0)}% of boundaries at word starts or spaces${step === null ? '' : ` (step ${step})`}`);
  });
  model.dispose();
  return 0;
}
