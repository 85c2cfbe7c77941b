// The `hiero` command line. Run through npm scripts (README), or directly:
//   node --import tsx --import ./engine/node/register.mjs apps/cli/hiero.ts <command> [options]
// Exit codes: 0 success, 1 failure, 2 usage error (a mistyped command, flag or value), 130 interrupted (Ctrl-C).

import { describeAdapter, init, shutdown } from '../../engine/index.ts';
import { closest, help, parse, reportError, UsageError, type CommandSpec, type Parsed } from './args.ts';
import { demo, demoSpec } from './demo.ts';
import { evalSpec, evaluate, exportSpec, exportWeights, solve, solveSpec } from './hrm.ts';
import { models, modelsSpec } from './models.ts';
import { importCheckpoint, importSpec } from './official.ts';
import { chunks, chunksSpec, generate, generateSpec } from './text.ts';
import { kindTrainSpec, train, trainSpec } from './train.ts';
import { isModelKind } from '../../model/kinds/index.ts';

interface Command {
  spec: CommandSpec;
  run(parsed: Parsed): Promise<number>;
}

const infoSpec: CommandSpec = { name: 'info', summary: 'Prints the WebGPU adapter Hiero finds, its limits and features.', positionals: '', options: {} };
const probeSpec: CommandSpec = { name: 'probe', summary: 'Exits 0 when a WebGPU adapter is available (used by the install script).', positionals: '', options: {} };

export const COMMANDS: Record<string, Command> = {
  train: { spec: trainSpec, run: train },
  eval: { spec: evalSpec, run: evaluate },
  solve: { spec: solveSpec, run: solve },
  generate: { spec: generateSpec, run: generate },
  chunks: { spec: chunksSpec, run: chunks },
  export: { spec: exportSpec, run: exportWeights },
  import: { spec: importSpec, run: importCheckpoint },
  models: { spec: modelsSpec, run: models },
  demo: { spec: demoSpec, run: demo },
  info: {
    spec: infoSpec,
    async run() {
      const report = await init();
      console.log(describeAdapter(report));
      console.log(JSON.stringify({ features: report.features, limits: report.limits }, null, 2));
      return 0;
    },
  },
  probe: {
    spec: probeSpec,
    async run() {
      await init();
      return 0;
    },
  },
};

/** A summary's first sentence, whole (its lines are wrapped for --help, so the first line may stop mid-sentence). */
function firstSentence(summary: string): string {
  const flat = summary.replace(/\s*\n\s*/g, ' ');
  let depth = 0;
  for (let i = 0; i < flat.length; i++) {
    const c = flat[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && (c === '.' || c === ':') && (i + 1 === flat.length || flat[i + 1] === ' ')) return `${flat.slice(0, i)}.`;
  }
  return flat;
}

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  return [
    'usage: hiero <command> [options]      (hiero <command> --help for its options)',
    '',
    ...Object.values(COMMANDS).map(({ spec }) => `  ${spec.name.padEnd(width)}${firstSentence(spec.summary)}`),
    `  ${'help'.padEnd(width)}this text, or a command's: hiero help train`,
  ].join('\n');
}

/** Runs one command line; returns the exit code. Errors about the user's input become one line on stderr. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      const topic = name === 'help' ? rest[0] : undefined;
      if (topic !== undefined) {
        const command = COMMANDS[topic];
        if (!command) throw new UsageError(unknownCommand(topic));
        console.log(help(command.spec));
      } else console.log(overview());
      return name === undefined ? 2 : 0;
    }
    const command = COMMANDS[name];
    if (!command) throw new UsageError(unknownCommand(name));
    const parsed = parse(command.spec, rest);
    if (parsed.help) {
      // `hiero train KIND --help`: the options that kind takes, and its presets.
      const kind = parsed.positionals[0];
      console.log(help(name === 'train' && isModelKind(kind) ? kindTrainSpec(kind) : command.spec));
      return 0;
    }
    return await command.run(parsed);
  } catch (error) {
    return reportError(error as Error);
  }
}

function unknownCommand(name: string): string {
  const hint = closest(name, Object.keys(COMMANDS));
  return `unknown command '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}; run hiero --help for the list`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => {
    shutdown();
    process.exit(code);
  });
}
