// The one place WGSL enters TypeScript. Vite and Vitest resolve `?raw` natively; plain Node through
// engine/node/raw-loader.mjs. Either way the text is the file on disk, unchanged.
import attention from './attention.wgsl?raw';
import chunk from './chunk.wgsl?raw';
import conv1d from './conv1d.wgsl?raw';
import elementwise from './elementwise.wgsl?raw';
import embedding from './embedding.wgsl?raw';
import loss from './loss.wgsl?raw';
import matmul from './matmul.wgsl?raw';
import norm from './norm.wgsl?raw';
import optim from './optim.wgsl?raw';
import probe from './probe.wgsl?raw';
import random from './random.wgsl?raw';
import reduce from './reduce.wgsl?raw';
import rope from './rope.wgsl?raw';
import scan from './scan.wgsl?raw';
import swiglu from './swiglu.wgsl?raw';

export const shaderSources = { attention, chunk, conv1d, elementwise, embedding, loss, matmul, norm, optim, probe, random, reduce, rope, scan, swiglu } as const;

export type ShaderFamily = keyof typeof shaderSources;
