// Runs in headless Chromium (test/web.test.ts): the inference worker as an app embeds it, in a Web Worker, through
// the same client as in Node. Each step's outcome (or the error it was refused with, by name) goes on
// window.__hieroWorker for the test to check.
import { createHieroWorker } from '../../apps/worker/client.ts';

declare global {
  interface Window {
    __hieroWorker?: Record<string, unknown> | { failed: string };
  }
}

const errorOf = (promise: Promise<unknown>) => promise.then(() => 'no error', (e: Error) => `${e.name}: ${e.message}`);
const at = (path: string) => new URL(path, location.href).href;

async function run(): Promise<Record<string, unknown>> {
  const params = new URLSearchParams(location.search);
  const out: Record<string, unknown> = {};
  const hiero = await createHieroWorker();
  out.adapter = (await hiero.adapter()).name;
  out.corrupt = await errorOf(hiero.load({ bytes: Uint8Array.of(9, 0, 0, 0, 0, 0, 0, 0, 1, 2).buffer, name: 'corrupt.safetensors' }));
  out.solver = await hiero.load({ url: at('checkpoints/sudoku-4x4/') });
  out.malformed = await errorOf(hiero.solve('1.3. ..4. .3..'));
  const solved = await hiero.solve(params.get('puzzle') ?? '', { segments: 3 });
  out.solved = { answer: solved.answer, valid: solved.valid, segments: solved.views.length, haltSegment: solved.haltSegment };
  out.hnet = await hiero.load({ url: at('checkpoints/hnet-tiny/') });
  const chunks: number[] = [];
  const generated = await hiero.generate('The ', { bytes: 24, chunk: 8, seed: 1, onChunk: (bytes) => void chunks.push(bytes.length) });
  out.generated = { chunks, bytes: generated.bytes.length, transferred: generated.bytes instanceof Uint8Array };
  const controller = new AbortController();
  out.cancelled = await errorOf(hiero.generate('Once', { bytes: 5000, chunk: 4, signal: controller.signal, onChunk: () => controller.abort() }));
  out.afterCancel = (await hiero.chunks('hello world')).probabilities.length;
  await hiero.dispose();
  out.disposed = await errorOf(hiero.model());
  return out;
}

run().then(
  (result) => {
    window.__hieroWorker = result;
    document.getElementById('out')!.textContent = JSON.stringify(result, null, 1);
  },
  (error: Error) => {
    window.__hieroWorker = { failed: `${error.name}: ${error.message}` };
    document.getElementById('out')!.textContent = String(error);
  },
);
