// Held-out exact match of a byte LM on generated instructions (model/data/instructions.ts): greedy generation after
// each instruction's newline, up to the next newline, compared with the response. Prompts of one length are generated
// together, each read whole in one prefill (so a PrefixLM sees every instruction byte both ways, as in training).

import { asyncScope, noGradAsync, readScalars, tensor } from '../engine/index.ts';
import { encodeInstruction, exactMatch, IGNORED_TARGET, INSTRUCTION_FAMILIES, instructionSet, promptBytes, type Instruction, type InstructionFamily, type InstructionSplit } from './data/instructions.ts';
import { generateText } from './text-generate.ts';
import type { ByteLM } from './text-model.ts';

/** The held-out sets' seeds: fixed, so every evaluation of every run scores the same instructions. */
const HELD_OUT_SEEDS: Record<Exclude<InstructionSplit, 'train'>, number> = { 'test-examples': 9001, 'test-templates': 9002 };

export interface InstructionEvaluation {
  /** Exact match on held-out examples (training phrasings) and on held-out phrasings, over all families. */
  examples: number;
  templates: number;
  /** Instructions scored per split. */
  count: number;
  /** Teacher-forced bits per response byte on each split (comparable across objectives and masks). */
  bitsExamples: number;
  bitsTemplates: number;
  families: { family: InstructionFamily; examples: number; templates: number }[];
}

const decoder = new TextDecoder();

/** Greedy answers to instructions (each: the generated line after the prompt's newline). */
export async function answerInstructions(model: ByteLM, prompts: readonly string[], context: number, maxBytes = 24): Promise<string[]> {
  const encoded = prompts.map((p) => {
    const bytes = promptBytes(p, context);
    const withNewline = new Uint8Array(bytes.length + 1);
    withNewline.set(bytes);
    withNewline[bytes.length] = 10;
    return withNewline;
  });
  const answers = new Array<string>(prompts.length);
  const byLength = new Map<number, number[]>();
  encoded.forEach((e, i) => byLength.set(e.length, [...(byLength.get(e.length) ?? []), i]));
  for (const [length, rows] of byLength) {
    const count = Math.max(1, Math.min(maxBytes, context - length));
    // Generation stops once every row has ended its answer with a newline (checked at each read-back).
    const ended = rows.map(() => false);
    const out = await generateText(model, rows.map((r) => encoded[r]), {
      count, temperature: 0, chunk: 8,
      onBytes: (row, bytes) => { if (bytes.includes(10)) ended[row] = true; },
      cancelled: () => ended.every(Boolean),
    });
    rows.forEach((r, k) => { answers[r] = decoder.decode(out[k]).split('\n')[0]; });
  }
  return answers;
}

/** Exact match per family on `perFamily` held-out instructions of each split. */
export async function evaluateInstructions(model: ByteLM, context: number, perFamily = 4, families: readonly InstructionFamily[] = INSTRUCTION_FAMILIES): Promise<InstructionEvaluation> {
  const score = async (split: Exclude<InstructionSplit, 'train'>) => {
    const set: Instruction[] = instructionSet(perFamily * families.length, { families, split, seed: HELD_OUT_SEEDS[split] });
    const answers = await answerInstructions(model, set.map((x) => x.prompt), context, Math.max(...set.map((x) => x.response.length)) + 1);
    return set.map((x, i) => ({ family: x.family, right: exactMatch(answers[i], x.response) }));
  };
  const [examples, templates] = [await score('test-examples'), await score('test-templates')];
  const bits = async (split: Exclude<InstructionSplit, 'train'>) => {
    const set = instructionSet(perFamily * families.length, { families, split, seed: HELD_OUT_SEEDS[split] }).map((x) => encodeInstruction(x, context));
    let [nats, bytes] = [0, 0];
    for (let from = 0; from < set.length; from += 8) {
      const rows = set.slice(from, from + 8);
      const ids = new Int32Array(rows.length * context);
      const targets = new Int32Array(rows.length * context).fill(IGNORED_TARGET);
      rows.forEach((e, r) => {
        ids.set(e.ids, r * context);
        for (let t = e.prefixLength - 1; t < e.length - 1; t++) targets[r * context + t] = e.ids[t + 1];
      });
      const scored = rows.reduce((n, e) => n + e.length - e.prefixLength, 0);
      const ce = await asyncScope(async () => {
        const losses = await noGradAsync(() => model.losses(tensor(ids, [rows.length, context], { dtype: 'i32' }), tensor(targets, [rows.length, context], { dtype: 'i32' })));
        return (await readScalars([losses.ce]))[0];
      });
      nats += ce * scored;
      bytes += scored;
    }
    return nats / bytes / Math.LN2;
  };
  const share = (rows: { family: InstructionFamily; right: boolean }[], family?: InstructionFamily) => {
    const chosen = family ? rows.filter((r) => r.family === family) : rows;
    return chosen.filter((r) => r.right).length / Math.max(1, chosen.length);
  };
  return {
    examples: share(examples), templates: share(templates), count: examples.length,
    bitsExamples: await bits('test-examples'), bitsTemplates: await bits('test-templates'),
    families: families.map((family) => ({ family, examples: share(examples, family), templates: share(templates, family) })),
  };
}
