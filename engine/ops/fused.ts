// Fused elementwise maps (tests: test/fused.test.ts). fusedMap(name, (x, y, …) => expression) traces a chain of the
// elementwise op table's ops once, on symbolic values whose methods are generated from UNARY_OPS and BINARY_OPS, and
// runs it as one kernel: one dispatch forward, where the chain took one per op, and one backward dispatch that
// computes every input's gradient by reverse mode in registers (a second when the adapter binds too few buffers for
// all of them at once).
//
// The kernel is generated from shaders/elementwise.wgsl itself: each op's function (unary, unary_derivative,
// binary_float, compare_float, grad_a, grad_b) is instantiated with its op code in place of the OP override, so a
// fused op computes what the unfused op computes, NaN rules included. Values are f32 inside the chain; comparisons
// give 1 or 0 (as `cmp(…).astype('f32')` does); integer inputs are read as f32, exact up to 2^24; `trunc()` is
// `astype('i32').astype('f32')` for values inside i32's range.
//
// A body may return several values: one kernel writes them all (a step's metrics in one dispatch). fusedSum sums
// each over the last axis inside the same kernel, so a map followed by its reduction (a masked count, a loss over
// the batch) is one dispatch forward and one backward, where it took a map, a sum and their backward kernels.

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { HieroError, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import { numel, type DType, type Tensor } from '../tensor.ts';
import { shaderSources } from '../../shaders/index.ts';
import { BINARY_OPS, sumToShape, UNARY_OPS, type BinaryOpName, type UnaryOpName } from './elementwise.ts';
import { broadcastShapes, broadcastStrides, ELEMENTWISE_WG, empty, mergeAxes } from './launch.ts';

type Node =
  | { kind: 'input'; index: number }
  | { kind: 'const'; value: number }
  | { kind: 'unary'; op: UnaryOpName; x: Node }
  | { kind: 'binary'; op: BinaryOpName; a: Node; b: Node }
  | { kind: 'where'; cond: Node; a: Node; b: Node }
  | { kind: 'trunc'; x: Node };

type Operand = FusedValue | number;
/** A fused body: one value per input in, one value or several out. */
export type FusedBody = (...xs: FusedValue[]) => FusedValue | readonly FusedValue[];

type UnaryMethods = { [K in UnaryOpName]: () => FusedValue };
type BinaryMethods = { [K in BinaryOpName]: (other: Operand) => FusedValue };

/** A value inside a fused map: the elementwise op table's ops as methods (generated from the table). */
export interface FusedValue extends UnaryMethods, BinaryMethods {}
export class FusedValue {
  constructor(readonly node: Node) {}
  /** cond ? a : b with this value as the condition (non-zero is true). */
  select(a: Operand, b: Operand): FusedValue {
    return new FusedValue({ kind: 'where', cond: this.node, a: toNode(a), b: toNode(b) });
  }
  /** Rounds toward zero (astype('i32').astype('f32') for values in i32's range); no gradient. */
  trunc(): FusedValue {
    return new FusedValue({ kind: 'trunc', x: this.node });
  }
}

const toNode = (v: Operand): Node => (typeof v === 'number' ? { kind: 'const', value: v } : v.node);

for (const op of Object.keys(UNARY_OPS) as UnaryOpName[]) {
  (FusedValue.prototype as unknown as Record<string, unknown>)[op] = function (this: FusedValue) {
    return new FusedValue({ kind: 'unary', op, x: this.node });
  };
}
for (const op of Object.keys(BINARY_OPS) as BinaryOpName[]) {
  (FusedValue.prototype as unknown as Record<string, unknown>)[op] = function (this: FusedValue, other: Operand) {
    return new FusedValue({ kind: 'binary', op, a: this.node, b: toNode(other) });
  };
}

const COMPARISONS = new Set<BinaryOpName>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);

/** The nodes a body returns, and whether it returns one value rather than an array. */
function rootsOf(body: FusedBody, arity: number): { roots: Node[]; single: boolean } {
  const result = body(...Array.from({ length: arity }, (_, index) => new FusedValue({ kind: 'input', index })));
  const values = result instanceof FusedValue ? [result] : [...result];
  if (values.length === 0 || values.some((v) => !(v instanceof FusedValue))) {
    throw new HieroError('a fused body returns a value built from its inputs, or a non-empty array of them');
  }
  return { roots: values.map((v) => v.node), single: result instanceof FusedValue };
}

/** The float64 value of a fused expression (its `output`-th value), from the op table's references: the test oracle. */
export function evaluateFused(body: FusedBody, arity: number, inputs: number[], output = 0): number {
  const root = rootsOf(body, arity).roots[output];
  const value = (n: Node): number => {
    switch (n.kind) {
      case 'input': return inputs[n.index];
      case 'const': return n.value;
      case 'unary': return UNARY_OPS[n.op].reference(value(n.x));
      case 'binary': return BINARY_OPS[n.op].reference(value(n.a), value(n.b));
      case 'where': return value(n.cond) !== 0 ? value(n.a) : value(n.b);
      case 'trunc': return Math.trunc(value(n.x));
    }
  };
  return value(root);
}

// ----------------------------------------------------------------------------------------------------------------
// WGSL generation from shaders/elementwise.wgsl

const SOURCE = shaderSources.elementwise;

function functionSource(name: string): string {
  const at = SOURCE.search(new RegExp(`\\nfn ${name}\\(`));
  if (at < 0) throw new HieroError(`internal: fused maps need fn ${name} in shaders/elementwise.wgsl`);
  let depth = 0;
  for (let i = SOURCE.indexOf('{', at); i < SOURCE.length; i++) {
    if (SOURCE[i] === '{') depth++;
    else if (SOURCE[i] === '}' && --depth === 0) return SOURCE.slice(at + 1, i + 1);
  }
  throw new HieroError(`internal: unbalanced fn ${name} in shaders/elementwise.wgsl`);
}

/** The file's constants and its op-independent helpers, verbatim. */
const PRELUDE = [
  ...SOURCE.split('\n').filter((line) => /^const [A-Z0-9_]+: /.test(line)),
  ...['is_nan', 'nan', 'infinity', 'sigmoid', 'tanh_safe', 'erf_approx', 'softplus', 'pow_signed', 'max_nan', 'min_nan', 'axis_step'].map(functionSource),
].join('\n');

/** `fn name(` instantiated for one op code: OP replaced by the code, sibling calls renamed. */
function instantiate(name: string, code: number, siblings: string[] = []): string {
  let text = functionSource(name).replace(new RegExp(`^fn ${name}\\(`), `fn ${name}_${code}(`).replace(/\bOP\b/g, `${code}u`);
  for (const s of siblings) text = text.replace(new RegExp(`\\b${s}\\(`, 'g'), `${s}_${code}(`);
  return text;
}

interface Program {
  nodes: Node[];
  ids: Map<Node, number>;
  arity: number;
  /** The node id of each value the body returns (every node a root depends on has a smaller id). */
  roots: number[];
  /** The body returns one value, not an array. */
  single: boolean;
}

/** Which inputs a root depends on differentiably (not only through comparisons, trunc or a condition). */
function differentiableInputs(p: Program, root: number): boolean[] {
  const out = new Array<boolean>(p.arity).fill(false);
  const seen = new Set<Node>();
  const walk = (n: Node) => {
    if (seen.has(n)) return;
    seen.add(n);
    if (n.kind === 'input') out[n.index] = true;
    else if (n.kind === 'unary') walk(n.x);
    else if (n.kind === 'binary' && !COMPARISONS.has(n.op)) { walk(n.a); walk(n.b); }
    else if (n.kind === 'where') { walk(n.a); walk(n.b); }
  };
  walk(p.nodes[p.roots[root]]);
  return out;
}

function program(body: FusedBody, arity: number): Program {
  const { roots, single } = rootsOf(body, arity);
  const nodes: Node[] = [];
  const ids = new Map<Node, number>();
  const visit = (n: Node) => {
    if (ids.has(n)) return;
    if (n.kind === 'unary' || n.kind === 'trunc') visit(n.x);
    else if (n.kind === 'binary') { visit(n.a); visit(n.b); }
    else if (n.kind === 'where') { visit(n.cond); visit(n.a); visit(n.b); }
    ids.set(n, nodes.length);
    nodes.push(n);
  };
  roots.forEach(visit);
  return { nodes, ids, arity, roots: roots.map((r) => ids.get(r)!), single };
}

const f32Literal = (x: number) => `bitcast<f32>(${new Uint32Array(new Float32Array([x]).buffer)[0]}u)`;

function functionsFor(p: Program, backward: boolean): string {
  const parts: string[] = [];
  const unary = new Set<number>();
  const binary = new Set<number>();
  const compare = new Set<number>();
  for (const n of p.nodes) {
    if (n.kind === 'unary') unary.add(UNARY_OPS[n.op].code);
    if (n.kind === 'binary') (COMPARISONS.has(n.op) ? compare : binary).add(BINARY_OPS[n.op].code);
  }
  for (const c of unary) {
    parts.push(instantiate('unary_in_domain', c), instantiate('unary', c, ['unary_in_domain']));
    if (backward) parts.push(instantiate('unary_derivative', c));
  }
  for (const c of binary) {
    parts.push(instantiate('binary_float', c));
    if (backward) parts.push(instantiate('grad_a', c), instantiate('grad_b', c));
  }
  for (const c of compare) parts.push(instantiate('compare_float', c));
  return parts.join('\n');
}

/** Bindings, the uniform struct and a loader per leaf (a leaf: an input, or in the backward the incoming gradient). */
function header(outputs: number, leafDTypes: DType[]): string {
  const leaves = leafDTypes.length;
  const lines = [
    'override WG: u32 = 256u;',
    'override RANK: u32 = 8u;',
    'override PER: u32 = 1u;',
    'struct FusedParams {',
    '  out_shape: array<vec4<u32>, 2>,',
    `  strides: array<array<vec4<u32>, 2>, ${leaves}>,`,
    `  offsets: array<vec4<u32>, ${Math.ceil(leaves / 4)}>,`,
    '  n: u32,',
    '  rank: u32,',
    '  cols: u32, // a sum: the length of the summed last axis',
    '  rows: u32, // a sum: how many sums',
    '  _pad: u32, // zero: nan() reads it so that its NaN is not folded at compile time',
    '  _pad2: u32,',
    '  _pad3: u32,',
    '  _pad4: u32,',
    '}',
    '@group(0) @binding(0) var<uniform> params: FusedParams;',
  ];
  for (let k = 0; k < outputs; k++) lines.push(`@group(0) @binding(${1 + k}) var<storage, read_write> out${k}: array<u32>;`);
  for (let k = 0; k < leaves; k++) lines.push(`@group(0) @binding(${1 + outputs + k}) var<storage, read> in${k}: array<u32>;`);
  lines.push(
    'fn leaf_offset(i: u32, t: array<vec4<u32>, 2>, base: u32) -> u32 {',
    '  let s0 = params.out_shape[0];',
    '  let s1 = params.out_shape[1];',
    '  let rank = RANK;',
    '  var rem = i;',
    '  var off = base;',
    '  off += axis_step(&rem, s1.w, t[1].w, rank > 7u);',
    '  off += axis_step(&rem, s1.z, t[1].z, rank > 6u);',
    '  off += axis_step(&rem, s1.y, t[1].y, rank > 5u);',
    '  off += axis_step(&rem, s1.x, t[1].x, rank > 4u);',
    '  off += axis_step(&rem, s0.w, t[0].w, rank > 3u);',
    '  off += axis_step(&rem, s0.z, t[0].z, rank > 2u);',
    '  off += axis_step(&rem, s0.y, t[0].y, rank > 1u);',
    '  off += axis_step(&rem, s0.x, t[0].x, rank > 0u);',
    '  return off;',
    '}',
  );
  leafDTypes.forEach((dtype, k) => {
    const word = `in${k}[leaf_offset(i, params.strides[${k}], params.offsets[${k >> 2}][${k & 3}])]`;
    const value = dtype === 'f32' ? `bitcast<f32>(${word})` : dtype === 'i32' ? `f32(bitcast<i32>(${word}))` : `f32(${word})`;
    lines.push(`fn leaf${k}(i: u32) -> f32 { return ${value}; }`);
  });
  return lines.join('\n');
}

/** SSA lines computing the value v<id> of every node up to `through` at flat index i. */
function forwardLines(p: Program, through = p.nodes.length - 1): string[] {
  const v = (n: Node) => `v${p.ids.get(n)}`;
  return p.nodes.slice(0, through + 1).map((n, id) => {
    switch (n.kind) {
      case 'input': return `  let v${id} = leaf${n.index}(i);`;
      case 'const': return `  let v${id} = ${f32Literal(n.value)};`;
      case 'unary': return `  let v${id} = unary_${UNARY_OPS[n.op].code}(${v(n.x)});`;
      case 'binary': {
        const code = BINARY_OPS[n.op].code;
        return COMPARISONS.has(n.op)
          ? `  let v${id} = select(0.0, 1.0, compare_float_${code}(${v(n.a)}, ${v(n.b)}));`
          : `  let v${id} = binary_float_${code}(${v(n.a)}, ${v(n.b)});`;
      }
      case 'where': return `  let v${id} = select(${v(n.b)}, ${v(n.a)}, ${v(n.cond)} != 0.0);`;
      case 'trunc': return `  let v${id} = trunc(${v(n.x)});`;
    }
  });
}

/** An entry point calling at(i) for every flat index of the output (PER indices an invocation). */
function elementEntry(body: string[]): string {
  return [
    'fn at(i: u32) {',
    '  if (i >= params.n) { return; }',
    ...body,
    '}',
    '@compute @workgroup_size(WG)',
    'fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {',
    '  let first = gid.x + gid.y * nwg.x * WG;',
    '  let total = nwg.x * nwg.y * WG;',
    '  for (var e = 0u; e < PER; e++) { at(first + e * total); }',
    '}',
  ].join('\n');
}

/**
 * Sums of the roots over the last axis: one invocation a row (short rows, CPU drivers' lanes), or one workgroup a row
 * with a tree over workgroup memory (long rows: the row's length no longer runs on one invocation).
 */
function sumEntry(p: Program, perWorkgroup: boolean, group: readonly number[]): string {
  const roots = group.map((r) => p.roots[r]);
  const k = roots.length;
  const through = Math.max(...roots);
  const zero = roots.map((_, j) => `  var s${j} = 0.0;`);
  const add = roots.map((root, j) => `    s${j} += v${root};`);
  const body = (loop: string) => [`  for (${loop}) {`, '    let i = r * params.cols + j;', ...forwardLines(p, through).map((l) => `  ${l}`), ...add, '  }'];
  if (!perWorkgroup) {
    return [
      'fn at(r: u32) {',
      '  if (r >= params.rows) { return; }',
      ...zero,
      ...body('var j = 0u; j < params.cols; j++'),
      ...roots.map((_, j) => `  out${j}[r] = bitcast<u32>(s${j});`),
      '}',
      '@compute @workgroup_size(WG)',
      'fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {',
      '  at(gid.x + gid.y * nwg.x * WG);',
      '}',
    ].join('\n');
  }
  return [
    `var<workgroup> partial: array<f32, ${k}u * WG>;`,
    '@compute @workgroup_size(WG)',
    'fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {',
    '  let r = wid.x + wid.y * nwg.x;',
    ...zero,
    '  if (r < params.rows) {',
    ...body('var j = lid; j < params.cols; j += WG').map((l) => `  ${l}`),
    '  }',
    ...roots.map((_, j) => `  partial[${j}u * WG + lid] = s${j};`),
    '  workgroupBarrier();',
    '  for (var half = WG / 2u; half > 0u; half /= 2u) {',
    '    if (lid < half) {',
    ...roots.map((_, j) => `      partial[${j}u * WG + lid] += partial[${j}u * WG + lid + half];`),
    '    }',
    '    workgroupBarrier();',
    '  }',
    '  if (lid == 0u && r < params.rows) {',
    ...roots.map((_, j) => `    out${j}[r] = bitcast<u32>(partial[${j}u * WG]);`),
    '  }',
    '}',
  ].join('\n');
}

/** The kernel writing the values `group` lists (indices into the body's values). */
function mapSource(p: Program, dtypes: DType[], group: readonly number[]): string {
  const roots = group.map((r) => p.roots[r]);
  const lines = [...forwardLines(p, Math.max(...roots)), ...roots.map((root, j) => `  out${j}[i] = bitcast<u32>(v${root});`)];
  return [PRELUDE, functionsFor(p, false), header(roots.length, dtypes), elementEntry(lines)].join('\n');
}

function sumSource(p: Program, dtypes: DType[], perWorkgroup: boolean, group: readonly number[]): string {
  return [PRELUDE, functionsFor(p, false), header(group.length, dtypes), sumEntry(p, perWorkgroup, group)].join('\n');
}

/**
 * Reverse mode over the nodes a root depends on, at every element of the map's shape: adjoints d<id>, the root's from
 * the incoming gradient (the last leaf; for a sum, its gradient broadcast along the summed axis).
 */
function backwardSource(p: Program, dtypes: DType[], wanted: number[], root: number): string {
  const id = (n: Node) => p.ids.get(n)!;
  const last = p.roots[root];
  const lines = forwardLines(p, last);
  for (let k = 0; k <= last; k++) lines.push(`  var d${k} = 0.0;`);
  lines.push(`  d${last} = leaf${p.arity}(i);`);
  for (let k = last; k >= 0; k--) {
    const n = p.nodes[k];
    if (n.kind === 'unary') lines.push(`  d${id(n.x)} += d${k} * unary_derivative_${UNARY_OPS[n.op].code}(v${id(n.x)}, v${k});`);
    else if (n.kind === 'binary' && !COMPARISONS.has(n.op)) {
      const code = BINARY_OPS[n.op].code;
      lines.push(`  d${id(n.a)} += grad_a_${code}(v${id(n.a)}, v${id(n.b)}, d${k});`);
      lines.push(`  d${id(n.b)} += grad_b_${code}(v${id(n.a)}, v${id(n.b)}, d${k});`);
    } else if (n.kind === 'where') {
      lines.push(`  d${id(n.a)} += select(0.0, d${k}, v${id(n.cond)} != 0.0);`);
      lines.push(`  d${id(n.b)} += select(d${k}, 0.0, v${id(n.cond)} != 0.0);`);
    }
  }
  wanted.forEach((input, slot) => {
    const uses = p.nodes.slice(0, last + 1).map((n, k) => (n.kind === 'input' && n.index === input ? `d${k}` : null)).filter((s) => s !== null);
    lines.push(`  out${slot}[i] = bitcast<u32>(${uses.length ? uses.join(' + ') : '0.0'});`);
  });
  return [PRELUDE, functionsFor(p, true), header(wanted.length, [...dtypes, 'f32']), elementEntry(lines)].join('\n');
}

// ----------------------------------------------------------------------------------------------------------------

function paramsOf(shape: readonly number[], inputs: readonly Tensor[], cols = 0, rows = 0): { bytes: ArrayBuffer; rank: number } {
  const axes = mergeAxes(shape, inputs.map((t) => broadcastStrides(t, shape)));
  const u = new Uniforms();
  u.vec(axes.shape, 8);
  for (const strides of axes.strides) u.vec(strides, 8);
  u.vec(inputs.map((t) => t.offset), Math.ceil(inputs.length / 4) * 4);
  u.u32(numel(shape)).u32(axes.shape.length).u32(cols).u32(rows).u32(0).u32(0).u32(0).u32(0);
  return { bytes: u.build(), rank: axes.shape.length };
}

export type FusedMap = (...inputs: Tensor[]) => Tensor;
/** A fused body that returns several values: one tensor each, from one dispatch. */
export type FusedMaps = (...inputs: Tensor[]) => Tensor[];

/** Rows at least this long are summed by a workgroup each, shorter ones by one invocation each. */
export const FUSED_SUM_WORKGROUP_COLS = 512;
const SUM_WG = 64;

/** Maps defined so far: each generated family carries its map's number, so two maps of one name never share one. */
let definedMaps = 0;

type Reduction = 'none' | 'last axis';

function fused(name: string, body: FusedBody, reduction: Reduction): FusedMap | FusedMaps {
  const arity = body.length;
  if (arity < 1) throw new HieroError(`${name}: a fused body takes at least one input`);
  const p = program(body, arity);
  // A gradient path only through inputs a value depends on differentiably: a map that only compares an input records
  // no graph (and keeps none of its inputs alive).
  const differentiable = p.roots.map((_, root) => differentiableInputs(p, root));
  const serial = ++definedMaps;
  const sources = new Map<string, string>();
  const sourceOf = (key: string, make: () => string) => {
    let s = sources.get(key);
    if (!s) sources.set(key, (s = make()));
    return s;
  };
  const outputs = p.roots.length;
  const run = (...inputs: Tensor[]): Tensor[] => {
    if (inputs.length !== arity) throw new ShapeError(`${name}: takes ${arity} tensors, got ${inputs.length}`);
    for (const t of inputs) t.storage(name);
    const rt = runtime();
    const dtypes = inputs.map((t) => t.dtype);
    const shape = broadcastShapes(name, ...inputs.map((t) => t.shape));
    if (reduction === 'last axis' && shape.length === 0) throw new ShapeError(`${name}: sums over the last axis, and its inputs are scalars`);
    const maxBuffers = rt.limits.maxStorageBuffersPerShaderStage ?? 8;
    const wantsGrad = inputs.some((t, k) => t.requiresGrad && differentiable.some((d) => d[k]));
    // Forward: the inputs and at least one output; backward: the inputs, the incoming gradient and one gradient.
    const needed = wantsGrad ? arity + 2 : arity + 1;
    if (needed > maxBuffers) throw new HieroError(`${name}: ${arity} inputs need ${needed} storage buffers; this adapter binds ${maxBuffers} a stage`);
    // As many values a dispatch as the adapter binds beside the inputs (all of them, on most adapters).
    const perForward = maxBuffers - arity;
    const groups: number[][] = [];
    for (let from = 0; from < outputs; from += perForward) groups.push(p.roots.slice(from, from + perForward).map((_, j) => from + j));
    const count = numel(shape);
    const key = `${name}#${serial}:${dtypes.join(',')}`;
    const cols = reduction === 'last axis' ? shape[shape.length - 1] : 0;
    const outShape = reduction === 'last axis' ? shape.slice(0, -1) : shape;
    const rows = numel(outShape);
    const outs = p.roots.map(() => empty(outShape, 'f32', name));
    const params = paramsOf(shape, inputs, cols, rows);
    const perWorkgroup = cols >= FUSED_SUM_WORKGROUP_COLS;
    for (const group of groups) {
      const groupOuts = group.map((r) => outs[r].buffer(name));
      const common = { entry: 'main', uniforms: params.bytes, outputs: groupOuts, inputs: inputs.map((t) => t.buffer(name)), label: name };
      if (reduction === 'none') {
        const mkey = `${key}:${group.join(',')}`;
        rt.dispatch({
          ...common, family: `generated:${mkey}`, source: sourceOf(mkey, () => mapSource(p, dtypes, group)),
          overrides: { WG: ELEMENTWISE_WG, RANK: params.rank }, workgroups: rt.grid(count, ELEMENTWISE_WG, name),
        });
      } else {
        const skey = `${key}:sum:${perWorkgroup ? 'workgroup' : 'invocation'}:${group.join(',')}`;
        rt.dispatch({
          ...common, family: `generated:${skey}`, source: sourceOf(skey, () => sumSource(p, dtypes, perWorkgroup, group)),
          overrides: { WG: SUM_WG, RANK: params.rank }, workgroups: perWorkgroup ? rt.grid(rows, 1, name) : rt.grid(rows, SUM_WG, name),
        });
      }
    }
    return outs.map((out, root) => record(name, inputs.map((t, k) => (differentiable[root][k] ? t : null)), out, (g, saved) => {
      const wanted = inputs.map((t, k) => (t.requiresGrad && differentiable[root][k] ? k : -1)).filter((k) => k >= 0);
      const grads: (Tensor | null)[] = inputs.map(() => null);
      // A sum's gradient is its incoming gradient broadcast along the summed axis.
      const incoming = reduction === 'last axis' ? g.reshape([...outShape, 1]) : g;
      // As many gradients a dispatch as the adapter binds beside the inputs and the incoming gradient.
      const perDispatch = Math.max(1, maxBuffers - arity - 1);
      const all = [...saved, incoming];
      const backwardParams = paramsOf(shape, all);
      for (let from = 0; from < wanted.length; from += perDispatch) {
        const group = wanted.slice(from, from + perDispatch);
        const full = group.map(() => empty(shape, 'f32', `${name} backward`));
        const bkey = `${key}:backward:${root}:${group.join(',')}`;
        rt.dispatch({
          family: `generated:${bkey}`, source: sourceOf(bkey, () => backwardSource(p, dtypes, group, root)), entry: 'main',
          overrides: { WG: ELEMENTWISE_WG, RANK: backwardParams.rank }, uniforms: backwardParams.bytes,
          outputs: full.map((t) => t.buffer(name)), inputs: all.map((t) => t.buffer(name)),
          workgroups: rt.grid(count, ELEMENTWISE_WG, `${name} backward`), label: `${name} backward`,
        });
        group.forEach((k, j) => {
          const reduced = sumToShape(full[j], inputs[k].shape);
          full[j].dispose();
          grads[k] = reduced;
        });
      }
      if (incoming !== g) incoming.dispose();
      return grads;
    }, inputs));
  };
  return p.single ? (...inputs: Tensor[]) => run(...inputs)[0] : run;
}

/**
 * One kernel for a chain of elementwise ops: `body` receives one symbolic value per input and returns the result,
 * built from the op table's methods (`x.softplus().sub(x.mul(y))`), `select` and `trunc`. Inputs broadcast as in
 * NumPy; the result is f32. A body that returns an array of values gives one tensor each, from one dispatch.
 */
export function fusedMap(name: string, body: (...xs: FusedValue[]) => FusedValue): FusedMap;
export function fusedMap(name: string, body: (...xs: FusedValue[]) => readonly FusedValue[]): FusedMaps;
export function fusedMap(name: string, body: FusedBody): FusedMap | FusedMaps {
  return fused(name, body, 'none');
}

/**
 * A fused map summed over the last axis of its broadcast shape in the same kernel: `fusedSum('masked', (x, m) =>
 * x.mul(m))(x, m)` is `x.mul(m).sum(-1)` in one dispatch forward and one backward. A body that returns an array sums
 * each value: one tensor each, from one dispatch.
 */
export function fusedSum(name: string, body: (...xs: FusedValue[]) => FusedValue): FusedMap;
export function fusedSum(name: string, body: (...xs: FusedValue[]) => readonly FusedValue[]): FusedMaps;
export function fusedSum(name: string, body: FusedBody): FusedMap | FusedMaps {
  return fused(name, body, 'last axis');
}
