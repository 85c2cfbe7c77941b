// The playground's small DOM toolkit: an element builder, notices that show errors on the page (never only in the
// console), number formats, and a uPlot line chart that follows its container's width.

import uPlot from 'uplot';
import { optionProblem, type OptionSpec } from '../../model/options.ts';
import type { ModelInfo } from '../worker/client.ts';

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | EventListener | undefined | null>;

/** An element: h('button', { class: 'primary', onclick: go }, 'Solve'). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Element, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

/** A line under a panel for what happened: progress, a result, or an error with its name. */
export class Notice {
  readonly element = h('p', { class: 'notice', role: 'status' });

  info(text: string): void {
    this.element.className = 'notice';
    this.element.textContent = text;
  }

  error(error: unknown): void {
    this.element.className = 'notice error';
    this.element.textContent = describeError(error);
  }

  clear(): void {
    this.info('');
  }
}

/** Runs work with a message in the notice while it lasts; its error, if any, is shown there instead. */
export async function withNotice(notice: Notice, message: string, work: () => Promise<unknown>): Promise<void> {
  notice.info(message);
  try {
    await work();
    notice.clear();
  } catch (error) {
    notice.error(error);
  }
}

/** A hidden file input: open() shows the browser's file chooser, onFile gets the chosen file. */
export function filePicker(accept: string, onFile: (file: File) => Promise<void>): { input: HTMLInputElement; open: () => void } {
  const input = h('input', { type: 'file', accept, class: 'hidden-file' });
  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    input.value = '';
    if (file) await onFile(file);
  });
  return { input, open: () => input.click() };
}

/** The line that says which model a page runs. */
export function modelDescription(info: ModelInfo, origin: string): string {
  return `${origin}: ${info.description}${info.step !== null ? `, trained ${count(info.step)} steps` : ''}`;
}

/** An error as a visitor reads it: its message (which names the request and the value), not the class behind it. */
export function describeError(error: unknown): string {
  if (error instanceof Error || (typeof error === 'object' && error && 'message' in error)) return (error as Error).message;
  return String(error);
}

export const percent = (x: number) => `${(100 * x).toFixed(1)} %`;
export const count = (x: number) => x.toLocaleString('en');

export interface NumberField {
  element: HTMLLabelElement;
  input: HTMLInputElement;
  /** The value typed, or NaN when the field is empty or not a number. */
  value: () => number;
  /** The value when it is in the field's option range; otherwise the notice names the field and the range, and null. */
  checked: (notice: Notice) => number | null;
}

/** A number input with a label, bounded by an option's one range (model/options.ts). */
export function numberField(label: string, value: number, option: OptionSpec & { type: 'integer' | 'number' }, step?: number): NumberField {
  const input = h('input', { type: 'number', value, min: option.min ?? null, max: option.max ?? null, step: step ?? (option.type === 'integer' ? 1 : 'any') });
  const element = h('label', { class: 'field' }, label, input);
  const read = () => (input.value.trim() === '' ? NaN : Number(input.value));
  return {
    element, input, value: read,
    checked: (notice) => {
      const problem = optionProblem(option, read());
      if (!problem) return read();
      notice.error(`${label} ${problem.replace(/got NaN$/, 'got nothing')}`);
      input.focus();
      return null;
    },
  };
}

export interface Series {
  label: string;
  color: string;
  /** A fixed y range (for percentages). */
  percent?: boolean;
}

/** A uPlot chart of y series against the training step (or another x), resized with its container. */
export class LineChart {
  readonly element = h('div', { class: 'chart' });
  private plot: uPlot | null = null;
  private readonly data: number[][];

  constructor(readonly title: string, private readonly series: Series[], private readonly yLabel: string, private readonly xLabel = 'step') {
    this.data = [[], ...series.map(() => [])];
  }

  /** Replaces every point at once (a whole stream). */
  set(xs: readonly number[], columns: readonly (readonly (number | null)[])[]): void {
    this.data[0].splice(0, Infinity, ...xs);
    columns.forEach((c, i) => this.data[i + 1].splice(0, Infinity, ...(c as number[])));
    this.ensure();
    this.plot!.setData(this.data as uPlot.AlignedData);
  }

  /** Adds a point; a series without a value at this step gets a gap. */
  add(step: number, values: (number | undefined)[]): void {
    this.data[0].push(step);
    values.forEach((v, i) => this.data[i + 1].push(v === undefined ? (null as unknown as number) : v));
    this.ensure();
    this.plot!.setData(this.data as uPlot.AlignedData);
  }

  reset(): void {
    for (const column of this.data) column.length = 0;
    this.plot?.setData(this.data as uPlot.AlignedData);
  }

  get points(): number {
    return this.data[0].length;
  }

  private ensure(): void {
    if (this.plot) return;
    const width = Math.max(240, this.element.clientWidth || 320);
    const percent = this.series.some((s) => s.percent);
    this.plot = new uPlot({
      title: this.title, width, height: 200,
      scales: { x: { time: false }, y: percent ? { range: [0, 100] } : { auto: true } },
      axes: [{ label: this.xLabel }, { label: this.yLabel }],
      series: [{ label: this.xLabel }, ...this.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, spanGaps: true, points: { show: this.xLabel === 'step', size: 4 } }))],
    }, this.data as uPlot.AlignedData, this.element);
    new ResizeObserver(() => this.plot?.setSize({ width: Math.max(240, this.element.clientWidth), height: 200 })).observe(this.element);
  }
}
