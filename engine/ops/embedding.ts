// Embedding lookup by i32 ids (kernels: shaders/embedding.wgsl; tests: test/embedding.test.ts).

import { record } from '../autograd.ts';
import { runtime } from '../context.ts';
import { formatShape, ShapeError } from '../errors.ts';
import { Uniforms } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { copyStrided } from './elementwise.ts';
import { dense, empty, launch } from './launch.ts';

/** table [vocab, dim] gathered by ids [...] (i32) -> [..., dim]. Repeated ids accumulate deterministically in backward. */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  table.assertDType('embedding', 'f32');
  ids.assertDType('embedding ids', 'i32');
  if (table.rank !== 2) throw new ShapeError(`embedding: the table must be [vocab, dim], got ${formatShape(table.shape)}`);
  const [vocab, dim] = table.shape;
  const rt = runtime();
  const count = ids.size;
  const tableDense = dense(table, copyStrided);
  const idsDense = dense(ids, copyStrided);
  const out = empty([...ids.shape, dim], 'f32', 'embedding');
  const flag = rt.gpuAssertion('embedding ids', (p) => `embedding: the id at flat position ${p} is outside [0, ${vocab})`, 0xffffffff);
  const uniforms = new Uniforms().u32(count).u32(vocab).u32(dim).u32(0).build();
  launch({
    family: 'embedding', entry: 'embedding_forward', label: 'embedding',
    overrides: { WG: 64 }, uniforms,
    outputs: [out, flag], inputs: [idsDense, tableDense],
    workgroups: rt.grid(count * dim, 64, 'embedding'),
  });
  if (tableDense !== table) tableDense.dispose();
  const result = record('embedding', [table], out, (g, [idsSaved]) => {
    const gd = dense(g, copyStrided);
    const grad = empty([vocab, dim], 'f32', 'embedding backward');
    const maxDim = rt.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    if (vocab > maxDim) throw new ShapeError(`embedding backward: a vocabulary of ${vocab} exceeds ${maxDim} rows per dispatch`);
    launch({
      family: 'embedding', entry: 'embedding_backward', label: 'embedding backward',
      overrides: { WG: 64 }, uniforms,
      outputs: [grad, null], inputs: [idsSaved, gd],
      workgroups: [Math.ceil(dim / 64), vocab],
    });
    if (gd !== g) gd.dispose();
    return [grad];
  }, [idsDense]);
  if (idsDense !== ids) idsDense.dispose();
  return result;
}
