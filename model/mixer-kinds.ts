// The names of the mixer table's rows (model/mixers.ts), apart from the table so that option lists (model/options.ts,
// read by the playground's page without the engine) can name them. A name here without its row, or a row without
// its name, is a compile error in model/mixers.ts.

export const MIXER_KINDS = ['hgrn', 'mingru', 'attention', 'hgrn2', 'gla', 'retnet', 'mamba2', 'gateloop', 'rglru', 'local-attention', 'paragru', 'paralstm'] as const;

export type MixerKind = (typeof MIXER_KINDS)[number];
