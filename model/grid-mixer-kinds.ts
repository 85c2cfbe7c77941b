// The names of the grid-mixer table's rows (model/grid-mixers.ts), apart from the table so that option lists
// (model/options.ts, read by the playground without the engine) can name them; a name without its row is a compile
// error there.

export const GRID_MIXER_KINDS = ['attention', 'plstm'] as const;

export type GridMixerKind = (typeof GRID_MIXER_KINDS)[number];
