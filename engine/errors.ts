// Every error Hiero throws on purpose is a HieroError whose message names the operation and what was wrong with
// its input, so a user never has to decode a GPU validation message or chase a NaN.

export class HieroError extends Error {
  override name = 'HieroError';
}

export class ShapeError extends HieroError {
  override name = 'ShapeError';
}

export class DTypeError extends HieroError {
  override name = 'DTypeError';
}

export class DisposedTensorError extends HieroError {
  override name = 'DisposedTensorError';
}

export class LimitError extends HieroError {
  override name = 'LimitError';
}

export class GPUExecutionError extends HieroError {
  override name = 'GPUExecutionError';
}

export class NoAdapterError extends HieroError {
  override name = 'NoAdapterError';
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** A model config that cannot work (a field out of range, sizes that do not fit together); names the field. */
export class ConfigError extends HieroError {
  override name = 'ConfigError';
}

/** Work stopped because its caller cancelled it (an AbortSignal, a stop request): the conventional name. */
export class AbortError extends HieroError {
  override name = 'AbortError';
}

/** An iterative solve (Newton's method for a nonlinear recurrence) that did not reach its tolerance. */
export class ConvergenceError extends HieroError {
  override name = 'ConvergenceError';
}
