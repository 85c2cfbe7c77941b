// `hiero models`: the model kinds of the table (model/kinds), one line each, or all they say as JSON (--json).

import { KIND_NAMES, specOf } from '../../model/kinds/index.ts';
import type { CommandSpec, Parsed } from './args.ts';

export const modelsSpec: CommandSpec = {
  name: 'models',
  summary: 'Lists the model kinds Hiero trains and serves, one line each (hiero train KIND --help for one of them).',
  positionals: '',
  options: { json: { type: 'boolean', help: 'every kind as JSON: family, presets and their learning rates, training options, worker requests' } },
};

/** What `hiero models --json` prints for each kind. */
export function describeKinds() {
  return KIND_NAMES.map((kind) => {
    const s = specOf(kind);
    return { kind, title: s.title, family: s.family, summary: s.summary, presets: s.presets, defaultPreset: s.defaultPreset, trainOptions: s.trainOptions, requests: s.requests };
  });
}

export async function models(p: Parsed): Promise<number> {
  const kinds = describeKinds();
  if (p.values.json) {
    console.log(JSON.stringify(kinds, null, 2));
    return 0;
  }
  const width = Math.max(...kinds.map((k) => k.kind.length)) + 2;
  for (const k of kinds) console.log(`${k.kind.padEnd(width)}${k.summary} [presets: ${Object.keys(k.presets).join(', ')}; serves: ${k.requests.join(', ')}]`);
  return 0;
}
