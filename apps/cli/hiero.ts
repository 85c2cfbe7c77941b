// The `hiero` command line. Run through npm scripts (README), or directly:
//   node --import tsx --import ./engine/node/register.mjs apps/cli/hiero.ts <command>

import { describeAdapter, init, NoAdapterError, shutdown } from '../../engine/index.ts';
import { runDemo } from './demo.ts';

const USAGE = `usage: hiero <command>
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
    console.error(error instanceof NoAdapterError ? error.message : (error.stack ?? String(error)));
    shutdown();
    process.exit(1);
  },
);
