// The HRM Sudoku page: solve with the shipped solvers (or an uploaded or freshly trained model) and watch the model
// think, segment by segment; train a tiny HRM in the browser with live plots, pause, resume, download.

import { Random } from '../../../model/tasks/common.ts';
import { generateSudoku, solveSudoku, SUDOKU, validateSudoku, type SudokuSpec } from '../../../model/tasks/sudoku.ts';
import type { HieroWorker, ModelInfo, SolveResult, TrainProgress } from '../../worker/client.ts';
import { MODEL_KINDS } from '../../../model/kinds/index.ts';
import { SOLVE_OPTIONS, TRAIN_OPTIONS, WORKER_TRAINING } from '../../../model/options.ts';
import { filePicker, h, LineChart, modelDescription, Notice, numberField, percent, withNotice } from '../ui.ts';

type Task = 'sudoku-4x4' | 'sudoku-6x6';
const SPECS: Record<Task, SudokuSpec> = { 'sudoku-4x4': SUDOKU['4x4'], 'sudoku-6x6': SUDOKU['6x6'] };
// The solvers that ship in model/checkpoints (the build copies them under checkpoints/). The 6×6 one is what two
// hours of a CPU driver trained (81 % of cells, few puzzles whole: README); a better one can be trained or uploaded.
const SHIPPED: Record<Task, string> = { 'sudoku-4x4': 'checkpoints/sudoku-4x4/', 'sudoku-6x6': 'checkpoints/sudoku-6x6/' };

export interface Page {
  element: HTMLElement;
  /** Called the first time the page is shown. */
  start(): void;
}

export function sudokuPage(hiero: HieroWorker): Page {
  let model: ModelInfo | null = null;
  let task: Task = 'sudoku-4x4';
  let training = false;
  const random = new Random(Date.now() >>> 0);

  // --- the model ------------------------------------------------------------------------------------------------
  const modelLine = h('p', { class: 'model-line', 'data-testid': 'sudoku-model' }, 'no model loaded');
  const modelNotice = new Notice();
  const describe = (info: ModelInfo | null, origin: string) => {
    model = info;
    modelLine.textContent = info ? modelDescription(info, origin) : 'no model loaded';
    // The segments the model was trained for (its M_max): more do not help a model trained for two (README).
    if (info?.segments) segmentsField.input.value = String(info.segments);
    if (info?.task && info.task in SPECS && info.task !== task) {
      task = info.task as Task;
      newPuzzle();
    }
  };
  const loadShipped = (which: Task, path: string) => withNotice(modelNotice, `loading the shipped ${which} solver…`, async () => {
    describe(await hiero.load({ url: new URL(path, document.baseURI).href }), `shipped ${which} solver`);
  });
  const upload = filePicker('.safetensors', (file) => withNotice(modelNotice, `loading ${file.name}…`, async () => {
    describe(await hiero.load({ bytes: await file.arrayBuffer(), name: file.name }), file.name);
  }));
  const download = async () => {
    try {
      const bytes = await hiero.exportWeights();
      const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
      const link = h('a', { href: url, download: `hiero-hrm-${model?.task ?? 'sudoku'}.safetensors` });
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (error) {
      modelNotice.error(error);
    }
  };
  const modelPanel = h('section', { class: 'panel' },
    h('h2', {}, 'Model'),
    modelLine,
    h('div', { class: 'row' },
      ...Object.entries(SHIPPED).map(([which, path]) => h('button', { onclick: () => void loadShipped(which as Task, path) }, `Shipped ${SPECS[which as Task].size}×${SPECS[which as Task].size} solver`)),
      h('button', { onclick: upload.open }, 'Upload .safetensors…'),
      h('button', { onclick: () => void download() }, 'Download checkpoint'),
      upload.input),
    modelNotice.element);

  // --- the puzzle and the model thinking ----------------------------------------------------------------------
  const board = h('div', { class: 'board', 'data-testid': 'puzzle' });
  let cells: HTMLInputElement[] = [];
  let given: number[] = [];
  const buildBoard = (values: number[]) => {
    const spec = SPECS[task];
    board.replaceChildren();
    board.style.setProperty('--size', String(spec.size));
    cells = values.map((v, i) => {
      const input = h('input', { class: boxClass(spec, i), inputmode: 'numeric', maxlength: 1, value: v ? String(v) : '', 'aria-label': `row ${Math.floor(i / spec.size) + 1} column ${(i % spec.size) + 1}` });
      input.addEventListener('input', () => {
        input.value = input.value.replace(new RegExp(`[^1-${spec.size}]`, 'g'), '').slice(-1);
      });
      board.append(input);
      return input;
    });
    given = values;
  };
  const newPuzzle = () => {
    clearThinking();
    buildBoard(generateSudoku(SPECS[task], random, { attempts: 1 }).puzzle);
  };
  const readBoard = () => cells.map((c) => (c.value ? Number(c.value) : 0));

  const segmentsField = numberField('segments', 2, SOLVE_OPTIONS.segments);
  const thinking = h('div', { class: 'segments', 'data-testid': 'segments' });
  const summary = h('p', { class: 'summary', 'data-testid': 'solve-summary' });
  const solveNotice = new Notice();
  let shown = 0; // invalidates an animation still running when a new answer arrives
  /** Segment views belong to the puzzle and model they were made with: a new puzzle, a cleared board or training removes them. */
  function clearThinking(): void {
    shown++;
    thinking.replaceChildren();
    summary.textContent = '';
  }
  const solveButton = h('button', { class: 'primary', onclick: () => void solve(), 'data-testid': 'solve' }, 'Solve');
  const stopSolveButton = h('button', { disabled: true, 'data-testid': 'stop-solve', onclick: () => solving?.abort() }, 'Stop');
  let solving: AbortController | null = null;
  const solve = async () => {
    const segments = segmentsField.checked(solveNotice);
    if (segments === null) return;
    const puzzle = readBoard();
    const spec = SPECS[task];
    try {
      validateSudoku(puzzle, spec);
    } catch (error) {
      solveNotice.error(error);
      return;
    }
    const solution = solveSudoku(puzzle, spec, 1).solutions[0] ?? null;
    solveNotice.info('thinking…');
    solving = new AbortController();
    solveButton.disabled = true;
    stopSolveButton.disabled = false;
    try {
      const result = await hiero.solve(puzzle.map((v) => (v ? String(v) : '.')).join(''), { segments, signal: solving.signal });
      solveNotice.clear();
      showThinking(result, puzzle, solution, spec, ++shown);
    } catch (error) {
      if ((error as Error).name === 'AbortError') solveNotice.info('stopped');
      else solveNotice.error(error);
    } finally {
      solving = null;
      solveButton.disabled = false;
      stopSolveButton.disabled = true;
    }
  };
  const showThinking = (result: SolveResult, puzzle: number[], solution: number[] | null, spec: SudokuSpec, token: number) => {
    thinking.replaceChildren();
    summary.textContent = '';
    result.views.forEach((view, m) => {
      // One segment at a time, as the model went: the grid, each cell's confidence, the Q head's values.
      setTimeout(() => {
        if (token !== shown) return;
        const grid = h('div', { class: 'mini-board' });
        grid.style.setProperty('--size', String(spec.size));
        view.cells.forEach((digit, i) => {
          const isGiven = puzzle[i] !== 0;
          const wrong = !isGiven && solution !== null && solution[i] !== digit;
          const cell = h('span', { class: `${boxClass(spec, i)}${isGiven ? ' given' : ''}${wrong ? ' wrong' : ''}`, title: isGiven ? 'given' : `confidence ${percent(view.confidence[i])}` }, String(digit));
          if (!isGiven) cell.style.setProperty('--confidence', view.confidence[i].toFixed(3));
          grid.append(cell);
        });
        const halts = result.haltSegment === m + 1;
        thinking.append(h('figure', { class: `segment${halts ? ' halts' : ''}${view.valid ? ' valid' : ''}`, 'data-testid': 'segment' },
          grid,
          h('figcaption', {},
            h('strong', {}, `segment ${m + 1}`), view.valid ? h('span', { class: 'badge ok' }, 'right') : null, halts ? h('span', { class: 'badge halt' }, 'halts here') : null,
            h('br'), `Q halt ${view.qHalt.toFixed(2)} · continue ${view.qContinue.toFixed(2)}`)));
        if (m === result.views.length - 1) {
          const right = result.firstValidSegment === null ? `no segment's answer is right in ${result.segments}` : `first right at segment ${result.firstValidSegment}`;
          const halt = result.haltSegment === null ? 'the Q head never chose to halt' : `the Q head halts after segment ${result.haltSegment}`;
          summary.textContent = `${right}; ${halt}.`;
        }
      }, 250 * m);
    });
  };
  const solvePanel = h('section', { class: 'panel' },
    h('h2', {}, 'Watch it think'),
    h('p', { class: 'hint' }, 'Type digits into the grid (blank cells are for the model), or take a new generated puzzle. Every segment is one pass of the high-level module over its low-level cycles; the shading is the model\'s confidence in each digit, red digits are wrong, and the Q head decides where to stop.'),
    h('div', { class: 'row' },
      h('button', { onclick: newPuzzle, 'data-testid': 'new-puzzle' }, 'New puzzle'),
      h('button', { onclick: () => (clearThinking(), buildBoard(new Array(SPECS[task].size ** 2).fill(0))) }, 'Clear'),
      h('button', { onclick: () => (clearThinking(), buildBoard(given)) }, 'Reset'),
      segmentsField.element,
      solveButton, stopSolveButton),
    h('div', { class: 'solve-area' }, board, h('div', { class: 'thinking' }, thinking, summary)),
    solveNotice.element);

  // --- training in the browser --------------------------------------------------------------------------------
  const taskSelect = h('select', {}, h('option', { value: 'sudoku-4x4' }, '4×4 Sudoku'), h('option', { value: 'sudoku-6x6' }, '6×6 Sudoku'));
  // The worker's defaults and the command line's ranges (model/options.ts): one source for both.
  const steps = numberField('steps', WORKER_TRAINING.steps, TRAIN_OPTIONS.steps);
  const batch = numberField('batch', WORKER_TRAINING.batch, TRAIN_OPTIONS.batch);
  const lr = numberField('learning rate', MODEL_KINDS.hrm.presets.tiny.lr, TRAIN_OPTIONS.lr, 0.0001);
  const hidden = numberField('hidden', WORKER_TRAINING.hidden, TRAIN_OPTIONS.hidden, 8);
  const evalEvery = numberField('evaluate every', WORKER_TRAINING.evalEvery, TRAIN_OPTIONS['eval-every']);
  const replayBox = h('input', { type: 'checkbox', checked: true, 'data-testid': 'replay' }) as HTMLInputElement;
  const replayField = h('label', { class: 'field', title: 'record the training step once and replay it: the same numbers, less time on the CPU per step' }, replayBox, ' replay the step');
  const trainButton = h('button', { class: 'primary', 'data-testid': 'train' }, 'Train');
  const pauseButton = h('button', { disabled: true, 'data-testid': 'pause' }, 'Pause');
  const stopButton = h('button', { disabled: true }, 'Stop');
  const progressLine = h('p', { class: 'progress', 'data-testid': 'train-progress' }, 'not training');
  // Its own line: progress reports keep arriving for the step in flight and must not overwrite it.
  const pauseNote = h('p', { class: 'hint', 'data-testid': 'pause-note' });
  const trainNotice = new Notice();
  const lossChart = new LineChart('training loss', [{ label: 'loss', color: '#c2410c' }], 'loss');
  const accuracyChart = new LineChart('held-out accuracy', [
    { label: 'cells', color: '#2563eb', percent: true }, { label: 'whole puzzles', color: '#059669', percent: true },
  ], '%');
  const speedChart = new LineChart('throughput', [{ label: 'samples/s', color: '#7c3aed' }], 'samples/s');
  let paused = false;
  pauseButton.addEventListener('click', async () => {
    paused = !paused;
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
    await (paused ? hiero.pause() : hiero.resume());
    pauseNote.textContent = paused ? 'paused: you can solve with the model as it is' : '';
  });
  stopButton.addEventListener('click', () => void hiero.stop());
  trainButton.addEventListener('click', async () => {
    if (training) return;
    const values = [steps, batch, lr, hidden, evalEvery].map((f) => f.checked(trainNotice));
    if (values.some((v) => v === null)) return;
    const [stepCount, batchSize, rate, width, every] = values as number[];
    training = true;
    clearThinking();
    pauseNote.textContent = '';
    paused = false;
    trainButton.disabled = true;
    pauseButton.disabled = stopButton.disabled = false;
    pauseButton.textContent = 'Pause';
    for (const chart of [lossChart, accuracyChart, speedChart]) chart.reset();
    trainNotice.info('generating puzzles and building the model…');
    const chosen = taskSelect.value as Task;
    const onProgress = (p: TrainProgress) => {
      if (p.step === 1) trainNotice.clear();
      lossChart.add(p.step, [p.loss]);
      speedChart.add(p.step, [p.samplesPerSecond]);
      if (p.cell !== undefined) accuracyChart.add(p.step, [100 * p.cell, 100 * (p.exact ?? 0)]);
      const heldOut = p.cell !== undefined ? ` · held-out cells ${percent(p.cell)}, whole puzzles ${percent(p.exact ?? 0)}` : '';
      progressLine.textContent = `step ${p.step} of ${p.steps} · loss ${p.loss.toFixed(3)} · ${p.samplesPerSecond.toFixed(1)} samples/s${heldOut}`;
      modelLine.textContent = `training in your browser: step ${p.step} of ${p.steps}`;
    };
    try {
      if (task !== chosen) {
        task = chosen;
        newPuzzle();
      }
      const result = await hiero.train({ task: chosen, steps: stepCount, batch: batchSize, lr: rate, hidden: width, evalEvery: every, replay: replayBox.checked }, { onProgress });
      describe(result.model, result.stopped ? `trained here (stopped at step ${result.steps})` : 'trained here');
      trainNotice.info(`done: ${result.steps} steps. The trained model is loaded: solve a puzzle above, or download it.`);
    } catch (error) {
      trainNotice.error(error);
    } finally {
      training = false;
      pauseNote.textContent = '';
      trainButton.disabled = false;
      pauseButton.disabled = stopButton.disabled = true;
    }
  });
  const trainPanel = h('section', { class: 'panel' },
    h('h2', {}, 'Train an HRM in your browser'),
    h('p', { class: 'hint' }, 'A tiny HRM (2 segments, one cycle each) learns from generated puzzles on your GPU, in a worker: the page stays responsive, and you can solve with the model between steps. It trains as npm start does (one cycle, two segments, the tiny preset\'s learning rate, the step replayed), for fewer steps on fewer puzzles (300 steps on 1,000 here; npm start runs 3,000 on 20,000).'),
    h('div', { class: 'row' }, h('label', { class: 'field' }, 'task', taskSelect), steps.element, batch.element, lr.element, hidden.element, evalEvery.element, replayField),
    h('div', { class: 'row' }, trainButton, pauseButton, stopButton),
    progressLine,
    pauseNote,
    h('div', { class: 'charts', 'data-testid': 'charts' }, lossChart.element, accuracyChart.element, speedChart.element),
    trainNotice.element);

  newPuzzle();
  const element = h('div', { class: 'page' }, modelPanel, solvePanel, trainPanel);
  return {
    element,
    start: () => void loadShipped('sudoku-4x4', SHIPPED['sudoku-4x4']!),
  };
}

function boxClass(spec: SudokuSpec, i: number): string {
  const r = Math.floor(i / spec.size);
  const c = i % spec.size;
  const edges = [];
  if (c % spec.boxCols === spec.boxCols - 1 && c < spec.size - 1) edges.push('box-right');
  if (r % spec.boxRows === spec.boxRows - 1 && r < spec.size - 1) edges.push('box-bottom');
  return `cell ${edges.join(' ')}`.trim();
}
