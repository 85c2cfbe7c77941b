// The command-line layer every `hiero` command (and `npm run demo`, `npm run bench`) goes through: node:util's
// parseArgs in strict mode, then every value typed and range-checked before any work starts. Mistakes are
// UsageErrors (exit 2) that name the flag or command, the valid range, and the closest valid name.
// (tests: test/cli.test.ts)

import { parseArgs } from 'node:util';
import { HieroError } from '../../engine/errors.ts';
import { describeRange, inRange, optionProblem, type OptionSpec } from '../../model/options.ts';
import { PuzzleError } from '../../model/tasks/common.ts';

/** A mistake in how a command was called: one line, no stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type { OptionSpec };

export interface CommandSpec {
  name: string;
  summary: string;
  /** The positional arguments, as shown in the usage line ('' when none are taken). */
  positionals: string;
  minPositionals?: number;
  maxPositionals?: number;
  options: Record<string, OptionSpec>;
  /** Lines shown after the options in --help. */
  notes?: string[];
  /** How the command is typed, for usage lines and hints (default `hiero <name>`). */
  invocation?: string;
}

const invocation = (spec: CommandSpec) => spec.invocation ?? `hiero ${spec.name}`;

export interface Parsed {
  values: Record<string, string | number | boolean | undefined>;
  positionals: string[];
  /** Options given on the command line (not defaulted). */
  given: Set<string>;
  help: boolean;
}

/** The closest of `names` to `word` (edit distance at most 3), for "did you mean" hints. */
export function closest(word: string, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 4;
  for (const name of names) {
    const d = editDistance(word, name);
    if (d < bestDistance) {
      bestDistance = d;
      best = name;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

function checkValue(command: string, name: string, spec: OptionSpec, raw: string): string | number {
  if (spec.type === 'choice') {
    if (!spec.choices.includes(raw)) {
      const hint = closest(raw, spec.choices);
      throw new UsageError(`${command} --${name}: '${raw}' is not one of ${spec.choices.join(', ')}${hint ? ` (did you mean '${hint}'?)` : ''}`);
    }
    return raw;
  }
  if (spec.type === 'integer' || spec.type === 'number') {
    const n = raw.trim() === '' ? NaN : Number(raw);
    const whole = spec.type === 'integer';
    if (!inRange(spec, n)) throw new UsageError(`${command} --${name}: '${raw}' is not ${describeRange(spec, whole)}`);
    return n;
  }
  if (spec.type === 'string') {
    const problem = optionProblem(spec, raw);
    if (problem) throw new UsageError(`${command} --${name}: ${problem}`);
  }
  return raw;
}

/**
 * Parses `args` for `spec`: unknown options, missing values, values of the wrong type or range, and the wrong
 * number of positionals are UsageErrors. `--help` (or `-h`) sets `help` and skips the other checks.
 */
export function parse(spec: CommandSpec, args: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(spec.options)) options[name] = { type: o.type === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageFromParseError(spec, error as Error & { code?: string });
  }
  const raw = parsed.values as Record<string, string | boolean | undefined>;
  if (raw.help) return { values: {}, positionals: parsed.positionals, given: new Set(), help: true };
  const values: Parsed['values'] = {};
  const given = new Set<string>();
  for (const [name, o] of Object.entries(spec.options)) {
    const value = raw[name];
    if (value === undefined) {
      if ('default' in o && o.default !== undefined) values[name] = o.default;
      continue;
    }
    given.add(name);
    values[name] = o.type === 'boolean' ? true : checkValue(spec.name, name, o, value as string);
  }
  const count = parsed.positionals.length;
  const min = spec.minPositionals ?? 0;
  const max = spec.maxPositionals ?? 0;
  if (count < min) throw new UsageError(`${spec.name}: expected ${spec.positionals || 'arguments'} (see ${invocation(spec)} --help)`);
  if (count > max) {
    const extra = parsed.positionals[max];
    throw new UsageError(`${spec.name}: unexpected argument '${extra}'${max === 0 ? ' (this command takes options only)' : ''}; see ${invocation(spec)} --help`);
  }
  return { values, positionals: parsed.positionals, given, help: false };
}

function usageFromParseError(spec: CommandSpec, error: Error & { code?: string }): UsageError {
  const names = Object.keys(spec.options);
  const flag = /'(-{1,2}[^'\s]+)'/.exec(error.message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) {
    const bare = flag.replace(/^-+/, '').split('=')[0];
    const hint = closest(bare, names);
    return new UsageError(`${spec.name}: unknown option ${flag.split('=')[0]}${hint ? ` (did you mean --${hint}?)` : ''}; see ${invocation(spec)} --help`);
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) {
    const bare = flag.replace(/^-+/, '');
    const o = spec.options[bare];
    if (o && o.type === 'boolean') return new UsageError(`${spec.name} ${flag} is a switch and takes no value`);
    return new UsageError(`${spec.name} ${flag} needs a value${o ? ` (${describeOption(o)})` : ''}`);
  }
  return new UsageError(`${spec.name}: ${error.message.split('\n')[0]}`);
}

function describeOption(o: OptionSpec): string {
  if (o.type === 'choice') return o.choices.join('|');
  if (o.type === 'integer') return describeRange(o, true);
  if (o.type === 'number') return describeRange(o, false);
  return o.type === 'string' ? (o.value ?? 'text') : '';
}

/** The --help text of a command. */
export function help(spec: CommandSpec): string {
  const lines = [`usage: ${invocation(spec)}${spec.positionals ? ` ${spec.positionals}` : ''} [options]`, '', spec.summary, ''];
  const entries = Object.entries(spec.options);
  if (entries.length) {
    lines.push('options:');
    const left = entries.map(([name, o]) => {
      const value = o.type === 'boolean' ? '' : o.type === 'choice' ? ` ${o.choices.join('|')}` : ` ${o.value ?? (o.type === 'string' ? 'TEXT' : 'N')}`;
      return `  --${name}${value}`;
    });
    const width = Math.max(...left.map((l) => l.length)) + 2;
    entries.forEach(([, o], i) => {
      const defaultText = 'default' in o && o.default !== undefined ? ` (default ${o.default})` : '';
      const range = o.type === 'integer' || o.type === 'number' ? ` [${describeOption(o)}]` : '';
      lines.push(`${left[i].padEnd(width)}${o.help}${range}${defaultText}`);
    });
    lines.push(`${'  --help'.padEnd(width)}this text`);
  }
  if (spec.notes?.length) lines.push('', ...spec.notes);
  return lines.join('\n');
}

/** One line for mistakes and known failures (exit 2 for usage, 1 otherwise); a stack trace only for bugs. */
export function reportError(error: Error): number {
  if (error instanceof UsageError) {
    console.error(`hiero: ${error.message}`);
    return 2;
  }
  const known = error instanceof HieroError || error instanceof PuzzleError;
  console.error(known ? `hiero: ${error.message}` : (error.stack ?? String(error)));
  return 1;
}
