// The language-model page: any byte LM of the model table (the shipped H-Net first, or an uploaded checkpoint of any
// kind that serves generate). Type text and see where each stage of an H-Net's routing module ends its chunks and
// how sure it is (kinds that serve chunks); generate text with the bytes streaming in as the GPU produces them.

import { kindsOf, listKinds } from '../../../model/kinds/index.ts';
import { GENERATE_OPTIONS } from '../../../model/options.ts';
import type { ChunkedTextResult, HieroWorker, ModelInfo } from '../../worker/client.ts';
import { filePicker, h, modelDescription, Notice, numberField, withNotice } from '../ui.ts';
import type { Page } from './sudoku.ts';

const SHIPPED = 'checkpoints/hnet-tiny/';
const SAMPLE = 'The jury said it did find that the city executive committee, which had over-all charge of the election, deserves the praise and thanks of the city.';

export function hnetPage(hiero: HieroWorker): Page {
  let model: ModelInfo | null = null;
  const modelLine = h('p', { class: 'model-line', 'data-testid': 'hnet-model' }, 'no model loaded');
  const modelNotice = new Notice();
  const loaded = (info: ModelInfo, origin: string) => {
    model = info;
    modelLine.textContent = modelDescription(info, origin);
  };
  const loadShipped = async () => {
    await withNotice(modelNotice, 'loading the shipped H-Net…', async () => loaded(await hiero.load({ url: new URL(SHIPPED, document.baseURI).href }), 'shipped tiny H-Net'));
    await showChunks();
  };
  const upload = filePicker('.safetensors', (file) => withNotice(modelNotice, `loading ${file.name}…`, async () => {
    loaded(await hiero.load({ bytes: await file.arrayBuffer(), name: file.name }), file.name);
  }));

  // --- chunks ---------------------------------------------------------------------------------------------------
  const text = h('textarea', { rows: 3, spellcheck: false, 'data-testid': 'chunk-text' }, SAMPLE);
  const chunked = h('div', { class: 'chunked', 'data-testid': 'chunks' });
  const heat = h('div', { class: 'chunked heat' });
  const stats = h('p', { class: 'summary', 'data-testid': 'chunk-stats' });
  const chunkNotice = new Notice();
  let chunking: AbortController | null = null;
  const stopChunksButton = h('button', { disabled: true, onclick: () => chunking?.abort() }, 'Stop');
  const showChunks = async () => {
    if (!model) return chunkNotice.info('load an H-Net first');
    if (!model.requests.includes('chunks')) return chunkNotice.info(`the loaded model (${model.kind}) does not chunk its input; only an H-Net does`);
    chunking = new AbortController();
    stopChunksButton.disabled = false;
    chunkNotice.info('chunking…');
    try {
      render(await hiero.chunks(text.value, { signal: chunking.signal }));
      chunkNotice.clear();
    } catch (error) {
      if ((error as Error).name === 'AbortError') chunkNotice.info('stopped');
      else chunkNotice.error(error);
    } finally {
      chunking = null;
      stopChunksButton.disabled = true;
    }
  };
  const render = (result: ChunkedTextResult) => {
    const bytes = new TextEncoder().encode(result.text);
    const starts = result.boundaries.map((stage) => new Set(stage));
    chunked.replaceChildren();
    heat.replaceChildren();
    // Characters with their byte offsets: a chunk starts at a byte, and a character owns its first byte.
    let offset = 0;
    let chunk = -1;
    for (const character of result.text) {
      const width = new TextEncoder().encode(character).length;
      const opens = starts[0]?.has(offset) ?? false;
      if (opens) chunk++;
      const stage2 = starts[1]?.has(offset) ?? false;
      const shown = character === ' ' ? '\u00a0' : character === '\n' ? '↵' : character;
      chunked.append(h('span', { class: `byte chunk-${chunk % 2}${opens ? ' opens' : ''}${stage2 ? ' opens2' : ''}` }, shown));
      const p = result.probabilities[offset] ?? 0;
      const cell = h('span', { class: 'byte', title: `p(boundary) = ${p.toFixed(3)}` }, shown);
      cell.style.setProperty('--p', p.toFixed(3));
      heat.append(cell);
      offset += width;
    }
    const perStage = result.boundaries.map((stage, i) => `stage ${i + 1}: ${stage.length} chunks, ${(bytes.length / Math.max(1, stage.length)).toFixed(2)} bytes per chunk`);
    stats.textContent = `${bytes.length} bytes; ${perStage.join('; ')}`;
  };

  // --- generation -----------------------------------------------------------------------------------------------
  const prompt = h('input', { type: 'text', value: 'The ', class: 'wide', 'data-testid': 'prompt' });
  const bytes = numberField('bytes', GENERATE_OPTIONS.bytes.default, GENERATE_OPTIONS.bytes);
  const temperature = numberField('temperature', GENERATE_OPTIONS.temperature.default, GENERATE_OPTIONS.temperature, 0.1);
  const output = h('pre', { class: 'generated', 'data-testid': 'generated' });
  const generateNotice = new Notice();
  const generateButton = h('button', { class: 'primary', 'data-testid': 'generate' }, 'Generate');
  const stopButton = h('button', { disabled: true }, 'Stop');
  let controller: AbortController | null = null;
  generateButton.addEventListener('click', async () => {
    if (!model) return generateNotice.info('load a language model first');
    if (!model.requests.includes('generate')) return generateNotice.info(`the loaded model (${model.kind}) does not generate text`);
    // An empty or out-of-range field is named here, before anything is asked of the worker.
    const count = bytes.checked(generateNotice);
    const heat = count === null ? null : temperature.checked(generateNotice);
    if (count === null || heat === null) return;
    controller = new AbortController();
    generateButton.disabled = true;
    stopButton.disabled = false;
    output.replaceChildren(h('span', { class: 'prompt' }, prompt.value));
    const decoder = new TextDecoder();
    const started = performance.now();
    let received = 0;
    generateNotice.info('generating…');
    try {
      await hiero.generate(prompt.value, {
        bytes: count, temperature: heat, seed: (Math.random() * 2 ** 31) >>> 0, signal: controller.signal,
        onChunk: (chunk) => {
          received += chunk.length;
          output.append(decoder.decode(chunk, { stream: true }));
        },
      });
      output.append(decoder.decode());
      generateNotice.info(`${received} bytes in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      if ((error as Error).name === 'AbortError') generateNotice.info(`stopped after ${received} bytes`);
      else generateNotice.error(error);
    } finally {
      generateButton.disabled = false;
      stopButton.disabled = true;
    }
  });
  stopButton.addEventListener('click', () => controller?.abort());

  // --- ask it (instruction models: hrm-text) ---------------------------------------------------------------------
  const question = h('input', { type: 'text', value: 'What is 21 + 34?', class: 'wide', 'data-testid': 'question' });
  const answer = h('pre', { class: 'generated', 'data-testid': 'answer' });
  const askNotice = new Notice();
  const askButton = h('button', { class: 'primary', 'data-testid': 'ask' }, 'Ask it');
  askButton.addEventListener('click', async () => {
    if (!model) return askNotice.info('load an instruction model (a checkpoint of hrm-text) first');
    if (model.kind !== 'hrm-text') return askNotice.info(`the loaded model (${model.kind}) continues text; only an instruction model (hrm-text) answers instructions`);
    askButton.disabled = true;
    answer.replaceChildren();
    const decoder = new TextDecoder();
    askNotice.info('answering…');
    try {
      // The worker checks the instruction (one line, within the model's window) and stops at the answer's end.
      await hiero.generate(question.value, { bytes: 64, instruction: true, onChunk: (chunk) => answer.append(decoder.decode(chunk, { stream: true })) });
      answer.append(decoder.decode());
      askNotice.clear();
    } catch (error) {
      askNotice.error(error);
    } finally {
      askButton.disabled = false;
    }
  });

  const element = h('div', { class: 'page' },
    h('section', { class: 'panel' },
      h('h2', {}, 'Model'),
      modelLine,
      h('div', { class: 'row' },
        h('button', { onclick: () => void loadShipped() }, 'Shipped tiny H-Net'),
        h('button', { onclick: upload.open }, 'Upload .safetensors…'),
        upload.input),
      h('p', { class: 'hint' }, `H-Net reads bytes. Its routing module compares each byte\'s projection with the one before it and opens a chunk where they differ; the main network sees only the chunks. Train one with npm run hiero -- train hnet; any other language model of hiero models (${listKinds(kindsOf('text').filter((k) => k !== 'hnet'))}) loads here too and generates.`),
      modelNotice.element),
    h('section', { class: 'panel' },
      h('h2', {}, 'Dynamic chunking'),
      text,
      h('div', { class: 'row' }, h('button', { class: 'primary', onclick: () => void showChunks(), 'data-testid': 'show-chunks' }, 'Show chunks'), stopChunksButton),
      h('p', { class: 'legend' }, 'Chunks (alternating shades; a bar marks a chunk start, a double bar a stage-2 start):'),
      chunked,
      h('p', { class: 'legend' }, 'Boundary probability of each byte (darker is higher):'),
      heat,
      stats,
      chunkNotice.element),
    h('section', { class: 'panel' },
      h('h2', {}, 'Generate'),
      h('div', { class: 'row' }, h('label', { class: 'field wide' }, 'prompt', prompt), bytes.element, temperature.element, generateButton, stopButton),
      output,
      generateNotice.element),
    h('section', { class: 'panel' },
      h('h2', {}, 'Ask it'),
      h('p', { class: 'hint' }, 'An instruction model (HRM-Text: npm run hiero -- train hrm-text, then upload its weights) answers one-line instructions: arithmetic, sorting, reversing, counting, word problems, 4×4 Sudoku.'),
      h('div', { class: 'row' }, h('label', { class: 'field wide' }, 'instruction', question), askButton),
      answer,
      askNotice.element));
  return { element, start: () => void loadShipped() };
}
