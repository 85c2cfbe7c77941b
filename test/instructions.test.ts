// Instruction data for HRM-Text (model/data/instructions.ts): deterministic generation, correct responses, held-out
// splits that share no content (by example) or no phrasing (by template) with training, byte encoding with the
// prefix and the scored span, named errors for prompts that cannot be read, and exact-match scoring.

import { describe, expect, it } from 'vitest';
import {
  encodeInstruction, exactMatch, IGNORED_TARGET, INSTRUCTION_FAMILIES, InstructionSampler, instructionSet, promptBytes, type Instruction,
} from '../model/data/instructions.ts';

const numbers = (text: string) => (text.match(/\d+/g) ?? []).map(Number);

describe('instruction data', () => {
  it('is a pure function of the seed, and every family answers its own question', () => {
    const a = instructionSet(400, { seed: 7 });
    expect(instructionSet(400, { seed: 7 })).toEqual(a);
    expect(new Set(a.map((x) => x.family))).toEqual(new Set(INSTRUCTION_FAMILIES));
    for (const x of a) {
      const n = numbers(x.prompt);
      if (x.family === 'add') expect(Number(x.response)).toBe(n[0] + n[1]);
      if (x.family === 'multiply') expect(Number(x.response)).toBe(n[0] * n[1]);
      if (x.family === 'compare') expect(Number(x.response)).toBe(Math.max(...n));
      if (x.family === 'sort') expect(x.response).toBe([...n].sort((p, q) => p - q).join(' '));
      if (x.family === 'reverse') expect([...x.response].reverse().join('')).toBe(x.prompt.match(/[a-z]+(?=( backwards| in reverse| reversed|$))/)?.[0]);
      if (x.family === 'sudoku') {
        const grid = x.prompt.match(/[.1-4]{16}/)![0];
        expect(x.response).toMatch(/^[1-4]{16}$/);
        [...grid].forEach((c, i) => c !== '.' && expect(x.response[i]).toBe(c));
      }
    }
  });

  it('held-out splits: no example content of test-examples trains, and test-templates uses phrasings training never does', () => {
    const train = instructionSet(4000, { seed: 1 });
    const byContent = instructionSet(300, { split: 'test-examples', seed: 2 });
    const byTemplate = instructionSet(300, { split: 'test-templates', seed: 3 });
    const trainPrompts = new Set(train.map((x) => x.prompt));
    // Content, not phrasing: strip a prompt to its numbers and words that vary.
    const content = (x: Instruction) => `${x.family}:${x.prompt.match(/\d+|'[a-z]'|[.1-4]{16}|[a-z]{5,}/g)?.join(',')}`;
    const trainContent = new Set(train.map(content));
    for (const x of byContent) {
      expect(trainPrompts.has(x.prompt)).toBe(false);
      if (x.family !== 'word' && x.family !== 'count') expect(trainContent.has(content(x)), x.prompt).toBe(false);
    }
    const trainTemplates = new Set(train.map((x) => `${x.family}:${x.template}`));
    for (const x of byTemplate) expect(trainTemplates.has(`${x.family}:${x.template}`)).toBe(false);
  });

  it('encodes prompt \\n response \\n with the prefix and the scored span; bad prompts are named', () => {
    const x: Instruction = { family: 'add', template: 0, prompt: 'What is 2 + 3?', response: '5' };
    const e = encodeInstruction(x, 32);
    expect(e.prefixLength).toBe(15);
    expect(e.length).toBe(17);
    expect(new TextDecoder().decode(Uint8Array.from(e.ids.subarray(0, e.length)))).toBe('What is 2 + 3?\n5\n');
    expect(Array.from(e.ids.subarray(e.length))).toEqual(new Array(15).fill(0));
    expect(() => encodeInstruction(x, 16)).toThrow(/the add example "What is 2 \+ 3\?" needs 17 bytes; the window is 16/);
    expect(() => promptBytes('   ', 64)).toThrow(/the instruction is empty/);
    expect(() => promptBytes('two\nlines', 64)).toThrow(/has a newline/);
    expect(() => promptBytes('x'.repeat(70), 64)).toThrow(/the instruction has 70 bytes; this model's context is 64 \(at most 62 bytes of instruction\)/);
    expect(() => promptBytes(Uint8Array.from([0x66, 0xff, 0x66]), 64)).toThrow(/not valid UTF-8/);
    expect(() => instructionSet(1, { families: ['poetry' as never] })).toThrow(/unknown task family 'poetry'/);
  });

  it('exact match reads the response up to its newline', () => {
    expect(exactMatch('405\nWhat is', '405')).toBe(true);
    expect(exactMatch(' 405 ', '405')).toBe(true);
    expect(exactMatch('4050', '405')).toBe(false);
  });

  it('training batches: next-byte targets on the response only (P(a|q)) or on every byte (P(x)); resuming replays the stream', () => {
    for (const objective of ['answer', 'all'] as const) {
      const sampler = new InstructionSampler(3, 128, 5, objective);
      const { ids, targets } = sampler.sample();
      for (let b = 0; b < 3; b++) {
        const row = Array.from(ids.subarray(b * 128, (b + 1) * 128));
        const newline = row.indexOf(10);
        const end = row.indexOf(10, newline + 1);
        for (let t = 0; t < 128; t++) {
          const scored = t < end && (objective === 'all' || t >= newline);
          expect(targets[b * 128 + t], `${objective}, row ${b}, position ${t}`).toBe(scored ? row[t + 1] : IGNORED_TARGET);
        }
      }
      const resumed = new InstructionSampler(3, 128, 5, objective);
      resumed.state = sampler.state;
      expect(resumed.sample()).toEqual(sampler.sample());
    }
    expect(() => new InstructionSampler(2, 24, 1)).toThrow(/needs \d+ bytes; the window is 24/);
  });
});
