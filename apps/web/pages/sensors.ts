// The sensor page: a HiSS model (the shipped tactile one, or uploaded weights of `hiero train hiss`) predicts a
// held-out sensor stream in the worker; the page plots the raw readings, the target and the prediction (uPlot), and
// the stream's MSE. Streams come from the same generator training used (model/data/sensors.ts), in the browser.

import { SENSOR_TASK_INFO, isSensorTask, sensorStreams, type SensorStream, type SensorTask } from '../../../model/data/sensors.ts';
import type { HieroWorker, ModelInfo } from '../../worker/client.ts';
import { filePicker, h, LineChart, modelDescription, Notice, numberField, withNotice } from '../ui.ts';
import type { Page } from './sudoku.ts';

const SHIPPED = 'checkpoints/hiss-tactile/';
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];
const LENGTH = 256;

export function sensorsPage(hiero: HieroWorker): Page {
  let model: ModelInfo | null = null;
  const modelLine = h('p', { class: 'model-line', 'data-testid': 'sensor-model' }, 'no model loaded');
  const modelNotice = new Notice();
  const notice = new Notice();
  const index = numberField('held-out stream', 0, { type: 'integer', min: 0, max: 9999, help: 'which held-out stream' });
  const channel = h('select', { 'data-testid': 'sensor-channel' });
  const summary = h('p', { class: 'summary', 'data-testid': 'sensor-mse' });
  const charts = h('div', {});
  const predictButton = h('button', { class: 'primary', 'data-testid': 'predict' }, 'Predict');
  const task = (): SensorTask | null => (model && isSensorTask(model.task) ? model.task : null);
  const loaded = (info: ModelInfo, origin: string) => {
    model = info;
    modelLine.textContent = modelDescription(info, origin);
    const t = task();
    channel.replaceChildren(...(t ? SENSOR_TASK_INFO[t].targetNames.map((name, i) => h('option', { value: String(i) }, name)) : []));
  };
  const loadShipped = async () => {
    await withNotice(modelNotice, 'loading the shipped HiSS…', async () => loaded(await hiero.load({ url: new URL(SHIPPED, document.baseURI).href }), 'shipped tiny HiSS (tactile)'));
    await predict();
  };
  const upload = filePicker('.safetensors', (file) => withNotice(modelNotice, `loading ${file.name}…`, async () => loaded(await hiero.load({ bytes: await file.arrayBuffer(), name: file.name }), file.name)));

  const plot = (t: SensorTask, stream: SensorStream, times: number[], predictions: number[][]) => {
    const info = SENSOR_TASK_INFO[t];
    const c = Number(channel.value || 0);
    const seconds = (i: number) => i / info.rate;
    const readings = new LineChart('raw readings (first channels)', info.inputNames.slice(0, 3).map((label, i) => ({ label, color: COLORS[i] })), 'reading', 'seconds');
    const target = new LineChart(`${info.targetNames[c]}: target and prediction`, [{ label: 'target', color: COLORS[0] }, { label: 'prediction', color: COLORS[1] }], info.targetNames[c], 'seconds');
    charts.replaceChildren(target.element, readings.element);
    const all = Array.from({ length: stream.length }, (_, i) => i);
    readings.set(all.map(seconds), [0, 1, 2].map((k) => all.map((i) => stream.inputs[i * info.channelsIn + k])));
    const predicted = new Map(times.map((time, p) => [time, predictions[p][c]]));
    target.set(all.map(seconds), [all.map((i) => stream.targets[i * info.channelsOut + c]), all.map((i) => predicted.get(i) ?? null)]);
    let squared = 0;
    times.forEach((time, p) => predictions[p].forEach((v, k) => (squared += (v - stream.targets[time * info.channelsOut + k]) ** 2)));
    summary.textContent = `MSE on this stream ${(squared / (times.length * info.channelsOut)).toFixed(4)} over ${times.length} predictions (${info.summary})`;
  };

  const predict = async () => {
    const t = task();
    if (!model) return notice.info('load a HiSS model first');
    if (!model.requests.includes('predict') || !t) return notice.info(`the loaded model (${model.kind}) does not predict sensor streams; train one with npm run hiero -- train hiss`);
    const i = index.checked(notice);
    if (i === null) return;
    predictButton.disabled = true;
    summary.textContent = '';
    try {
      const [stream] = sensorStreams(t, 'held-out', 1, LENGTH, i);
      const { times, predictions } = await hiero.predict(stream.inputs);
      plot(t, stream, times, predictions);
      notice.clear();
    } catch (error) {
      notice.error(error);
    } finally {
      predictButton.disabled = false;
    }
  };
  predictButton.addEventListener('click', () => void predict());
  channel.addEventListener('change', () => void predict());

  const element = h('div', { class: 'page' },
    h('section', { class: 'panel' },
      h('h2', {}, 'Model'),
      modelLine,
      h('div', { class: 'row' }, h('button', { onclick: () => void loadShipped() }, 'Shipped tiny HiSS'), h('button', { onclick: upload.open }, 'Upload .safetensors…'), upload.input),
      h('p', { class: 'hint' }, 'HiSS reads a raw sensor stream in chunks: a low-level recurrence inside each chunk, a high-level one over the chunks. Train one with npm run hiero -- train hiss --task imu (or tactile) and upload its weights.'),
      modelNotice.element),
    h('section', { class: 'panel' },
      h('h2', {}, 'A held-out stream'),
      h('div', { class: 'row' }, index.element, h('label', { class: 'field' }, 'target', channel), predictButton),
      summary,
      charts,
      notice.element));
  return { element, start: () => void loadShipped() };
}
