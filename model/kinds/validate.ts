// Named checks of a model config's fields (ConfigError: "<model> config: <field> must be ..."), for the kinds' rows.

import { ConfigError } from '../../engine/index.ts';

export type FieldCheck = (value: unknown) => string | null;

export const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER): FieldCheck => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`;
export const positiveNumber: FieldCheck = (v) => (typeof v === 'number' && v > 0 && Number.isFinite(v) ? null : `must be a number > 0, got ${JSON.stringify(v)}`);
export const oneOf = (...choices: readonly unknown[]): FieldCheck => (v) => (choices.includes(v) ? null : `must be one of ${choices.map((c) => JSON.stringify(c)).join(', ')}, got ${JSON.stringify(v)}`);
export const flag: FieldCheck = (v) => (typeof v === 'boolean' ? null : `must be true or false, got ${JSON.stringify(v)}`);

/** The config as an object whose every listed field passes its check; the first that fails is a ConfigError. */
export function checkFields<C>(title: string, config: unknown, checks: { readonly [K in keyof C]?: FieldCheck }): C {
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new ConfigError(`${title} config: expected an object, got ${JSON.stringify(config)}`);
  for (const [field, check] of Object.entries(checks) as [string, FieldCheck][]) {
    if (!(field in config)) throw new ConfigError(`${title} config: ${field} is missing`);
    const problem = check((config as Record<string, unknown>)[field]);
    if (problem) throw new ConfigError(`${title} config: ${field} ${problem}`);
  }
  return config as C;
}
