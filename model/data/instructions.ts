// Instruction–response pairs for HRM-Text's task-completion objective (issue 22), generated offline from templates:
// multi-digit addition and multiplication, comparison and sorting of lists, string reversal and counting, simple word
// problems, and 4×4 Sudoku stated as text. Every example is a pure function of (family, template, seed).
//
// Held-out splits: 'test-templates' uses phrasings no training example has (each family keeps its last template for
// it), and 'test-examples' the training phrasings on examples whose content the training split never draws (an
// example belongs to the test side when a hash of its content says so, whichever seed drew it). Responses are scored
// by exact match. Bytes: the prompt, a newline, the response, a newline (generation stops at the newline); the prompt
// and its newline are the prefix a PrefixLM sees both ways, and only the response and its newline are scored.

import { generateSudoku, SUDOKU } from '../tasks/sudoku.ts';
import { Random } from '../tasks/common.ts';

export const INSTRUCTION_FAMILIES = ['add', 'multiply', 'compare', 'sort', 'reverse', 'count', 'word', 'sudoku'] as const;
export type InstructionFamily = (typeof INSTRUCTION_FAMILIES)[number];
export type InstructionSplit = 'train' | 'test-examples' | 'test-templates';
export const INSTRUCTION_SPLITS: readonly InstructionSplit[] = ['train', 'test-examples', 'test-templates'];

export interface Instruction {
  family: InstructionFamily;
  template: number;
  prompt: string;
  response: string;
}

/** A family's content: what an example is about (hashed for the example split), and its phrasings. */
interface Family {
  draw(random: Random): { key: string; slots: Record<string, string>; response: string };
  templates: readonly string[];
}

const NAMES = ['Ana', 'Ben', 'Kai', 'Mia', 'Omar', 'Lena', 'Ravi', 'Zoe'];
const THINGS = ['apples', 'books', 'coins', 'shells', 'stamps', 'marbles'];
const WORDS = ['river', 'planet', 'garden', 'silver', 'window', 'butter', 'rocket', 'meadow', 'candle', 'pepper', 'lantern', 'banana'];
const between = (random: Random, low: number, high: number) => low + random.int(high - low + 1);
const list = (random: Random) => Array.from({ length: between(random, 3, 6) }, () => between(random, 0, 99));

const FAMILIES: { readonly [F in InstructionFamily]: Family } = {
  add: {
    draw: (r) => {
      const [a, b] = [between(r, 10, 9999), between(r, 10, 9999)];
      return { key: `${a}+${b}`, slots: { a: String(a), b: String(b) }, response: String(a + b) };
    },
    templates: ['What is {a} + {b}?', 'Add {a} and {b}.', 'Compute the sum of {a} and {b}.', '{a} plus {b} equals what?'],
  },
  multiply: {
    draw: (r) => {
      const [a, b] = [between(r, 2, 999), between(r, 2, 99)];
      return { key: `${a}*${b}`, slots: { a: String(a), b: String(b) }, response: String(a * b) };
    },
    templates: ['What is {a} * {b}?', 'Multiply {a} by {b}.', 'Compute the product of {a} and {b}.', '{a} times {b} is what?'],
  },
  compare: {
    draw: (r) => {
      const xs = list(r);
      return { key: `max ${xs}`, slots: { list: xs.join(', ') }, response: String(Math.max(...xs)) };
    },
    templates: ['Which number is largest: {list}?', 'Give the largest of {list}.', 'Find the maximum of {list}.', 'Of {list}, which is the biggest?'],
  },
  sort: {
    draw: (r) => {
      const xs = list(r);
      return { key: `sort ${xs}`, slots: { list: xs.join(' ') }, response: [...xs].sort((x, y) => x - y).join(' ') };
    },
    templates: ['Sort in ascending order: {list}', 'Put these numbers in increasing order: {list}', 'Order from smallest to largest: {list}', 'Arrange ascending: {list}'],
  },
  reverse: {
    draw: (r) => {
      const w = WORDS[r.int(WORDS.length)] + (r.int(2) ? WORDS[r.int(WORDS.length)] : '');
      return { key: `rev ${w}`, slots: { word: w }, response: [...w].reverse().join('') };
    },
    templates: ['Reverse the string: {word}', 'Write {word} backwards.', 'Spell {word} in reverse.', 'What is {word} reversed?'],
  },
  count: {
    draw: (r) => {
      const w = WORDS[r.int(WORDS.length)] + WORDS[r.int(WORDS.length)];
      const letter = w[r.int(w.length)];
      return { key: `count ${letter} ${w}`, slots: { word: w, letter }, response: String([...w].filter((c) => c === letter).length) };
    },
    templates: ["How many times does '{letter}' appear in {word}?", "Count the letter '{letter}' in {word}.", "In {word}, how often is '{letter}' used?", "Number of '{letter}' in {word}?"],
  },
  word: {
    draw: (r) => {
      const name = NAMES[r.int(NAMES.length)];
      const thing = THINGS[r.int(THINGS.length)];
      const [a, b] = [between(r, 2, 60), between(r, 2, 40)];
      const gives = r.int(2) === 1 && a > b;
      return {
        key: `${name} ${thing} ${a} ${gives ? '-' : '+'} ${b}`,
        slots: { name, thing, a: String(a), b: String(b), verb: gives ? 'gives away' : 'finds' },
        response: String(gives ? a - b : a + b),
      };
    },
    templates: [
      '{name} has {a} {thing} and {verb} {b}. How many {thing} does {name} have now?',
      '{name} starts with {a} {thing}, then {verb} {b}. How many are left with {name}?',
      'There are {a} {thing}. {name} {verb} {b}. How many {thing} does {name} end up with?',
      'If {name} holds {a} {thing} and {verb} {b}, how many {thing} does {name} hold?',
    ],
  },
  sudoku: {
    draw: (r) => {
      const { puzzle, solution } = generateSudoku(SUDOKU['4x4'], r);
      const cells = puzzle.map((v) => (v === 0 ? '.' : String(v))).join('');
      return { key: `sudoku ${cells}`, slots: { grid: cells }, response: solution.join('') };
    },
    templates: ['Solve the 4x4 Sudoku (rows left to right, . is blank): {grid}', 'Fill in this 4x4 Sudoku, row by row: {grid}', 'Complete the 4x4 Sudoku {grid}', 'Give the solution of the 4x4 Sudoku {grid}'],
  },
};

/** 32-bit FNV-1a of a string: which side of the example split an example's content falls on. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** One example in 8 is held out by content. */
const isTestContent = (family: InstructionFamily, key: string) => hash(`${family}:${key}`) % 8 === 0;

function fill(template: string, slots: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => slots[name]);
}

/** A stream of examples of one split, drawn round-robin over `families` from `seed`. */
export function instructionStream(options: { families?: readonly InstructionFamily[]; split?: InstructionSplit; seed?: number } = {}): () => Instruction {
  const families = options.families ?? INSTRUCTION_FAMILIES;
  if (families.length === 0) throw new InstructionError('instructions: at least one task family is needed');
  for (const f of families) if (!Object.hasOwn(FAMILIES, f)) throw new InstructionError(`instructions: unknown task family '${f}' (${INSTRUCTION_FAMILIES.join(', ')})`);
  const split = options.split ?? 'train';
  if (!INSTRUCTION_SPLITS.includes(split)) throw new InstructionError(`instructions: unknown split '${split}' (${INSTRUCTION_SPLITS.join(', ')})`);
  const random = new Random(options.seed ?? 1);
  let turn = 0;
  return () => {
    const family = families[turn++ % families.length];
    const spec = FAMILIES[family];
    const trainTemplates = spec.templates.length - 1;
    for (let tries = 0; ; tries++) {
      if (tries === 100_000) throw new InstructionError(`instructions: no ${split} content found for ${family}`);
      const drawn = spec.draw(random);
      const testContent = isTestContent(family, drawn.key);
      // Training and the template test draw content off the example test side, so no test example's content trains.
      if ((split === 'test-examples') !== testContent) continue;
      const template = split === 'test-templates' ? trainTemplates : random.int(trainTemplates);
      return { family, template, prompt: fill(spec.templates[template], drawn.slots), response: drawn.response };
    }
  };
}

/** `count` examples of one split (a fixed held-out set: the same seed gives the same examples). */
export function instructionSet(count: number, options: { families?: readonly InstructionFamily[]; split?: InstructionSplit; seed?: number } = {}): Instruction[] {
  const next = instructionStream(options);
  return Array.from({ length: count }, next);
}

export class InstructionError extends Error {
  override name = 'InstructionError';
}

const encoder = new TextEncoder();
const strict = new TextDecoder('utf-8', { fatal: true });
export const NEWLINE = 10;

/** A prompt as bytes, after the named checks: not empty, no newline (it ends the prompt), fits the context. */
export function promptBytes(prompt: string | Uint8Array, context: number): Uint8Array {
  let text: string;
  if (prompt instanceof Uint8Array) {
    try {
      text = strict.decode(prompt);
    } catch {
      throw new InstructionError('the instruction is not valid UTF-8');
    }
  } else text = prompt;
  if (text.trim().length === 0) throw new InstructionError('the instruction is empty');
  if (text.includes('\n')) throw new InstructionError('the instruction has a newline; the model reads one line (a newline ends it)');
  const bytes = encoder.encode(text);
  // The prompt, its newline, and at least one byte of answer must fit.
  if (bytes.length + 2 > context) throw new InstructionError(`the instruction has ${bytes.length} bytes; this model's context is ${context} (at most ${context - 2} bytes of instruction)`);
  return bytes;
}

export interface EncodedInstruction {
  /** prompt \n response \n, then padding (0) up to seq */
  ids: Int32Array;
  /** The prompt and its newline: what a PrefixLM sees both ways. */
  prefixLength: number;
  /** Bytes that carry a target: the response and its closing newline (the next-byte targets at positions before). */
  length: number;
}

/** An example as a training row of `seq` bytes; an example that does not fit is a named error. */
export function encodeInstruction(example: Instruction, seq: number): EncodedInstruction {
  const prompt = promptBytes(example.prompt, seq);
  const response = encoder.encode(example.response);
  const length = prompt.length + 1 + response.length + 1;
  if (length > seq) throw new InstructionError(`the ${example.family} example "${example.prompt}" needs ${length} bytes; the window is ${seq}`);
  const ids = new Int32Array(seq);
  ids.set(prompt, 0);
  ids[prompt.length] = NEWLINE;
  ids.set(response, prompt.length + 1);
  ids[length - 1] = NEWLINE;
  return { ids, prefixLength: prompt.length + 1, length };
}

/** Exact match of a generated response (up to its newline, surrounding spaces ignored). */
export function exactMatch(generated: string, response: string): boolean {
  const line = generated.split('\n')[0];
  return line.trim() === response.trim();
}

/** The objective: the response bytes only (P(answer | question), the task-completion objective) or every byte (P(x)). */
export type InstructionObjective = 'answer' | 'all';
export const IGNORED_TARGET = -100;

/**
 * Training batches of instructions, `batch` rows of `seq` bytes: ids, and next-byte targets where the objective
 * scores (elsewhere IGNORED_TARGET: padding always, the instruction under 'answer'). Its state is its generator's
 * seed position, so a resumed run continues the same stream.
 */
export class InstructionSampler {
  private stream: () => Instruction;
  private drawn = 0;

  constructor(readonly batch: number, readonly seq: number, private seed: number, readonly objective: InstructionObjective = 'answer', readonly families: readonly InstructionFamily[] = INSTRUCTION_FAMILIES) {
    this.stream = instructionStream({ families, split: 'train', seed });
    // Most examples must fit: checked on a few draws of every family now, named, before training starts; a rare
    // longer one met later is skipped (the window drops the longest phrasings' largest numbers).
    for (const example of instructionSet(4 * families.length, { families, seed: 12345 })) encodeInstruction(example, seq);
  }

  private nextFitting(): EncodedInstruction {
    for (;;) {
      const example = this.stream();
      this.drawn++;
      const length = encoder.encode(example.prompt).length + encoder.encode(example.response).length + 2;
      if (length <= this.seq) return encodeInstruction(example, this.seq);
    }
  }

  /** The seed and how many examples have been drawn from it (a resumed sampler replays the count). */
  get state(): number {
    return this.drawn;
  }

  set state(drawn: number) {
    this.stream = instructionStream({ families: this.families, split: 'train', seed: this.seed });
    for (let i = 0; i < drawn; i++) this.stream();
    this.drawn = drawn;
  }

  sample(): { ids: Int32Array; targets: Int32Array } {
    const { batch, seq } = this;
    const ids = new Int32Array(batch * seq);
    const targets = new Int32Array(batch * seq).fill(IGNORED_TARGET);
    for (let b = 0; b < batch; b++) {
      const e = this.nextFitting();
      ids.set(e.ids, b * seq);
      const from = this.objective === 'answer' ? e.prefixLength - 1 : 0;
      for (let t = from; t < e.length - 1; t++) targets[b * seq + t] = e.ids[t + 1];
    }
    return { ids, targets };
  }
}
