// The one place WGSL enters TypeScript. Vite and Vitest resolve `?raw` natively; plain Node through
// engine/node/raw-loader.mjs. Either way the text is the file on disk, unchanged, followed by the helpers of
// common.wgsl that it calls (see that file), the same for the browser build and for Node.
import attention from './attention.wgsl?raw';
import common from './common.wgsl?raw';
import chunk from './chunk.wgsl?raw';
import conv1d from './conv1d.wgsl?raw';
import elementwise from './elementwise.wgsl?raw';
import embedding from './embedding.wgsl?raw';
import gla from './gla.wgsl?raw';
import loss from './loss.wgsl?raw';
import matmul from './matmul.wgsl?raw';
import matmul_subgroup from './matmul_subgroup.wgsl?raw';
import norm from './norm.wgsl?raw';
import optim from './optim.wgsl?raw';
import plstm from './plstm.wgsl?raw';
import probe from './probe.wgsl?raw';
import random from './random.wgsl?raw';
import reduce from './reduce.wgsl?raw';
import rnn from './rnn.wgsl?raw';
import rope from './rope.wgsl?raw';
import scan from './scan.wgsl?raw';
import scan2 from './scan2.wgsl?raw';
import swiglu from './swiglu.wgsl?raw';

const families = { attention, chunk, conv1d, elementwise, embedding, gla, loss, matmul, matmul_subgroup, norm, optim, plstm, probe, random, reduce, rnn, rope, scan, scan2, swiglu } as const;

export type ShaderFamily = keyof typeof families;

/** common.wgsl's sections, by the helper function each defines. */
const helpers = new Map(common.split(/^\/\/ helper: /m).slice(1).map((section) => [section.slice(0, section.indexOf('\n')).trim(), section.slice(section.indexOf('\n') + 1)]));

/** A family's source with the shared helpers it calls appended. */
function withHelpers(source: string): string {
  const used = [...helpers].filter(([name]) => new RegExp(`\\b${name}\\s*\\(`).test(source));
  return used.length ? `${source}\n// ---- shared helpers (shaders/common.wgsl) ----\n${used.map(([, code]) => code).join('\n')}` : source;
}

export const shaderSources = Object.fromEntries(Object.entries(families).map(([family, source]) => [family, withHelpers(source)])) as Record<ShaderFamily, string>;
