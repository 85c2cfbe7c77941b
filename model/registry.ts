// A model from its weights file alone, in the browser or in Node: the weights' metadata says which model it is and
// how it is configured (written by the training sessions; tests: test/worker.test.ts). Used by the inference
// worker and the playground, which never see a training state.

import { CheckpointError, tensor, type DecodedCheckpoint, type Tensor } from '../engine/index.ts';
import { HNetLM, type HNetConfig } from './hnet.ts';
import { HRM, type HRMConfig } from './hrm.ts';
import { TransformerLM, type TransformerConfig } from './transformer.ts';

export type LoadedModel =
  | { kind: 'hrm'; model: HRM; task: string; config: HRMConfig }
  | { kind: 'hnet'; model: HNetLM; config: HNetConfig }
  | { kind: 'transformer'; model: TransformerLM; config: TransformerConfig };

function parseConfig(decoded: DecodedCheckpoint, origin: string): Record<string, unknown> {
  const text = decoded.metadata.config;
  if (!text) throw new CheckpointError(`${origin}: the weights carry no model config (not written by Hiero?)`);
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`${origin}: the weights' model config is not valid JSON`);
  }
}

/** Builds the model the weights describe and loads them (names, shapes and dtypes checked by loadStateDict). */
export function modelFromWeights(decoded: DecodedCheckpoint, origin: string): LoadedModel {
  const config = parseConfig(decoded, origin);
  const kind = decoded.metadata.model ?? (decoded.metadata.task ? 'hrm' : undefined);
  let loaded: LoadedModel;
  try {
    if (kind === 'hrm') loaded = { kind, model: new HRM(config as unknown as HRMConfig), task: decoded.metadata.task, config: config as unknown as HRMConfig };
    else if (kind === 'hnet') loaded = { kind, model: new HNetLM(config as unknown as HNetConfig), config: config as unknown as HNetConfig };
    else if (kind === 'transformer') loaded = { kind, model: new TransformerLM(config as unknown as TransformerConfig), config: config as unknown as TransformerConfig };
    else throw new CheckpointError(`${origin}: the weights do not say which model they belong to`);
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(`${origin}: its config does not describe a model Hiero can build (${(error as Error).message})`);
  }
  const tensors = new Map<string, Tensor>([...decoded.tensors].map(([name, t]) => [name, tensor(t.data, t.shape, { dtype: t.dtype })]));
  try {
    loaded.model.loadStateDict(tensors);
  } catch (error) {
    loaded.model.dispose();
    throw new CheckpointError(`${origin}: ${(error as Error).message}`);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  return loaded;
}
