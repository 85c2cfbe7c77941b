// The `hiero` command line. Run through npm scripts (README), or directly:
//   node --import tsx --import ./engine/node/register.mjs apps/cli/hiero.ts <command>

import { describeAdapter, HieroError, init, NoAdapterError, shutdown } from '../../engine/index.ts';
import { runDemo } from './demo.ts';
import { evaluate, solve, train, UsageError } from './hrm.ts';
import { PuzzleError } from '../../model/tasks/common.ts';

const USAGE = `usage: hiero <command>
  train hrm|trm --task sudoku-4x4|sudoku-6x6|sudoku-9x9|maze-N|arc:DIR [--steps N --batch B --preset tiny|small|paper
            --lr X --train N --test N --max-segments M --cycles C --hidden D --positions rope|learned --eval-every K --out DIR
            --seed S --loss softmax|stablemax --optimizer adamw|adam-atan2 --ema DECAY]
            train --resume DIR [--steps N]     continue a run exactly where its checkpoint left it
  eval --checkpoint DIR [--segments M --count N --augmentations K]   held-out accuracy per segment (ARC: pass@1/2 by voting)
  solve --checkpoint DIR PUZZLE              solve a Sudoku given as digits with '.' for blanks, or a maze given as rows
                                             of # . S G (as arguments or on stdin)
  demo      train a small byte-level Transformer LM on Shakespeare, printing the loss as it falls
            (--steps=N, --batch=N)
  info      print the WebGPU adapter, its limits and features
  probe     exit 0 when a WebGPU adapter is available`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo':
      await runDemo(rest);
      return 0;
    case 'train':
      await train(rest);
      return 0;
    case 'eval':
      await evaluate(rest);
      return 0;
    case 'solve':
      await solve(rest);
      return 0;
    case 'info': {
      const report = await init();
      console.log(describeAdapter(report));
      console.log(JSON.stringify({ features: report.features, limits: report.limits }, null, 2));
      return 0;
    }
    case 'probe':
      await init();
      return 0;
    default:
      console.error(USAGE);
      return command ? 2 : 0;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    shutdown();
    process.exit(code);
  },
  (error: Error) => {
    // Errors about the user's input or machine get one line; anything else is a bug and keeps its stack.
    const known = error instanceof NoAdapterError || error instanceof UsageError || error instanceof PuzzleError || error instanceof HieroError;
    console.error(known ? `hiero: ${error.message}` : (error.stack ?? String(error)));
    shutdown();
    process.exit(1);
  },
);
