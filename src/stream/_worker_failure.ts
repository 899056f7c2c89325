/**
 * Errors across the decode worker boundary. Structured clone keeps neither an error's class nor its
 * `code`, so both travel as fields and the pool makes the error again: callers then test
 * `instanceof` and `code`, never the text.
 *
 * @module
 */
import {
  ConfigError,
  type ErrorCode,
  ImageError,
  OnnxRunError,
  ProcessorError,
  ShapeError,
  TokenizerError,
} from "../errors.ts";

/** A failure as it crosses the worker boundary. */
export interface WorkerFailure {
  /** The error's class name (`ImageError`, `TypeError`, …). */
  name: string;
  /** The error's message, unchanged. */
  message: string;
  /** The {@linkcode ErrorCode} of a {@linkcode ProcessorError}; absent for other errors. */
  code?: ErrorCode;
}

/** The processor's error classes a worker may throw, by name: each is rebuilt from its message alone. */
const ERROR_CLASSES: Record<string, new (message: string) => ProcessorError> = {
  ImageError,
  ConfigError,
  ShapeError,
  OnnxRunError,
  TokenizerError,
};

/**
 * A worker's error as it left the worker.
 */
export function describeFailure(error: unknown): WorkerFailure {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const failure: WorkerFailure = { name: error.name, message: error.message };
  if (error instanceof ProcessorError) failure.code = error.code;
  return failure;
}

/**
 * The error a worker threw, made again on this side: of the same class when it is one of ours
 * (so callers test `instanceof` and `code`, never the text), a {@linkcode ProcessorError} with
 * the same code and name for our other classes, else an `Error` named in its message.
 */
export function rebuildError(failure: WorkerFailure): Error {
  const Known = ERROR_CLASSES[failure.name];
  if (Known) return new Known(failure.message);
  if (failure.code) {
    const error = new ProcessorError(failure.code, failure.message);
    error.name = failure.name;
    return error;
  }
  return new Error(`${failure.name}: ${failure.message}`);
}
