// The TRM row (model/hrm.ts, variant trm): one network recursing on its own answer, TRM's schedule.

import { puzzleKind } from './puzzle.ts';

export const trmKind = puzzleKind('trm', 'TRM', 'TRM: the Tiny Recursive Model, one network for both updates (Jolicoeur-Martineau 2025)');
