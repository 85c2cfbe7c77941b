// The HRM row (model/hrm.ts): separate slow (H) and fast (L) modules, deep supervision, adaptive halting.

import { puzzleKind } from './puzzle.ts';

export const hrmKind = puzzleKind('hrm', 'HRM', 'HRM: the Hierarchical Reasoning Model on generated puzzles (deep supervision, adaptive halting; Wang et al. 2025)');
