/**
 * One error vocabulary for the whole processor. Codes become NATS service error codes only in
 * `src/stream` and process exit codes only in `src/cli.ts`.
 *
 * @module
 */

/** Machine-readable failure codes, stable across releases. */
export const ErrorCode = {
  CONFIG_INVALID: "CONFIG_INVALID",
  WEIGHTS_INVALID: "WEIGHTS_INVALID",
  WEIGHTS_CHECKSUM: "WEIGHTS_CHECKSUM",
  WEIGHTS_MISSING: "WEIGHTS_MISSING",
  TOKENIZER_INVALID: "TOKENIZER_INVALID",
  IMAGE_INVALID: "IMAGE_INVALID",
  SHAPE_MISMATCH: "SHAPE_MISMATCH",
  GRAPH_INVALID: "GRAPH_INVALID",
  VJP_MISSING: "VJP_MISSING",
  ONNX_RUN: "ONNX_RUN",
  DEVICE_UNAVAILABLE: "DEVICE_UNAVAILABLE",
  DOWNLOAD_FAILED: "DOWNLOAD_FAILED",
  PROFILE_INVALID: "PROFILE_INVALID",
  ENROLLMENT_FAILED: "ENROLLMENT_FAILED",
  BUS_UNAVAILABLE: "BUS_UNAVAILABLE",
  USAGE: "USAGE",
} as const;

/** One of {@linkcode ErrorCode}'s values. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** Base class of every error the processor throws on purpose. */
export class ProcessorError extends Error {
  /** Stable failure code. */
  readonly code: ErrorCode;

  /**
   * Makes the error.
   * @param code the failure code
   * @param message one clear sentence; detail after a colon
   * @param options `cause` chains the underlying error
   */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProcessorError";
    this.code = code;
  }
}

/** A configuration file or option is malformed or inconsistent. */
export class ConfigError extends ProcessorError {
  /** Makes the error from one clear sentence; `cause` in `options` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.CONFIG_INVALID, message, options);
    this.name = "ConfigError";
  }
}

/** A weights file is truncated, corrupt, or lacks a tensor the model needs. */
export class WeightsError extends ProcessorError {
  /** The file the problem was found in. */
  readonly file: string;
  /** The tensor concerned, when one is. */
  readonly tensor?: string;

  /** Makes the error from one clear sentence; `cause` in `options` chains the underlying error. */
  constructor(
    message: string,
    opts: { file: string; tensor?: string; code?: ErrorCode } & ErrorOptions,
  ) {
    super(opts.code ?? ErrorCode.WEIGHTS_INVALID, message, opts);
    this.name = "WeightsError";
    this.file = opts.file;
    this.tensor = opts.tensor;
  }
}

/** Tokenizer vocabulary missing or malformed. */
export class TokenizerError extends ProcessorError {
  /** Makes the error from one clear sentence; `cause` in `options` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.TOKENIZER_INVALID, message, options);
    this.name = "TokenizerError";
  }
}

/** An image could not be decoded or is outside accepted limits. */
export class ImageError extends ProcessorError {
  /** Makes the error from one clear sentence; `cause` in `options` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.IMAGE_INVALID, message, options);
    this.name = "ImageError";
  }
}

/** A tensor's shape does not fit where it is used. */
export class ShapeError extends ProcessorError {
  /** Makes the error from one clear sentence; `cause` in `options` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.SHAPE_MISMATCH, message, options);
    this.name = "ShapeError";
  }
}

/** A graph could not be built, or an op has no gradient rule. */
export class GraphError extends ProcessorError {
  /** Makes the error from one clear sentence; `cause` in `options` chains the underlying error. */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "GraphError";
  }
}

/** onnxruntime failed to create a session or run one. */
export class OnnxRunError extends ProcessorError {
  /** Makes the error from one clear sentence; `cause` in `options` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.ONNX_RUN, message, options);
    this.name = "OnnxRunError";
  }
}

/** A download from a model hub failed or did not verify. */
export class DownloadError extends ProcessorError {
  /** The URL concerned. */
  readonly url: string;

  /** Makes the error from one clear sentence; `cause` in `options` chains the underlying error. */
  constructor(message: string, opts: { url: string; code?: ErrorCode } & ErrorOptions) {
    super(opts.code ?? ErrorCode.DOWNLOAD_FAILED, message, opts);
    this.name = "DownloadError";
    this.url = opts.url;
  }
}

/** A station profile file is truncated, foreign, from a newer version, or inconsistent. */
export class ProfileError extends ProcessorError {
  /** The profile file concerned. */
  readonly file: string;

  /** Makes the error from one clear sentence; `cause` in `options` chains the underlying error. */
  constructor(message: string, opts: { file: string } & ErrorOptions) {
    super(ErrorCode.PROFILE_INVALID, message, opts);
    this.name = "ProfileError";
    this.file = opts.file;
  }
}

/** Enrollment could not produce a profile (too few images, a failed stage). */
export class EnrollmentError extends ProcessorError {
  /** Makes the error from one clear sentence; `cause` in `options` chains the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.ENROLLMENT_FAILED, message, options);
    this.name = "EnrollmentError";
  }
}
