/**
 * The stream layer's errors, and the one place where failure codes become NATS service error codes.
 *
 * @module
 */
import { ErrorCode, ImageError, ProcessorError } from "../errors.ts";

/** A subject or station id that the contract does not allow. */
export class SubjectError extends ProcessorError {
  /** The offending value, as received (possibly shortened). */
  readonly value: string;

  /**
   * Refuses a subject or station id.
   *
   * @param message what is wrong, and what is allowed
   * @param opts the offending value; `cause` chains
   */
  constructor(message: string, opts: { value: string } & ErrorOptions) {
    super(ErrorCode.USAGE, message, opts);
    this.name = "SubjectError";
    this.value = opts.value;
  }
}

/** A message payload that is not what its subject carries (malformed JSON, unknown or bad fields). */
export class MessageError extends ProcessorError {
  /**
   * Refuses a payload.
   *
   * @param message `field X must be …: got …`, or what is wrong with the whole payload
   * @param options `cause` chains the parse error
   */
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.USAGE, message, options);
    this.name = "MessageError";
  }
}

/**
 * A decode worker died on a frame (a decoder crash on hostile input). It is an {@linkcode ImageError}
 * because the frame is what failed; the pool has replaced the worker already.
 */
export class DecoderCrashError extends ImageError {
  /**
   * Reports a worker that died on a frame.
   *
   * @param message what the worker's runtime reported
   * @param options `cause` chains
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DecoderCrashError";
  }
}

/**
 * A frame's decoding ran past its time budget: its worker was terminated and replaced. It is an
 * {@linkcode ImageError} because the frame is what cost too much.
 */
export class DecodeBudgetError extends ImageError {
  /**
   * Reports a decode stopped at its budget.
   *
   * @param message the budget and what was done
   * @param options `cause` chains
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DecodeBudgetError";
  }
}

/**
 * The bus or the service cannot be reached (no server at the URL, no `adp serve` answering): the
 * usual cause is a wrong `--nats` URL or credentials, or a service that is not running.
 */
export class BusError extends ProcessorError {
  /**
   * Reports a bus or service that does not answer.
   *
   * @param message which server or subject did not answer, and the likely cause
   * @param options `cause` chains the client's error
   */
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.BUS_UNAVAILABLE, message, options);
    this.name = "BusError";
  }
}

/** NATS micro service error codes (sent in the `Nats-Service-Error-Code` header), HTTP-like. */
export const ServiceErrorCode = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

/** One of {@linkcode ServiceErrorCode}'s values. */
export type ServiceErrorCode = typeof ServiceErrorCode[keyof typeof ServiceErrorCode];

/** A service request that cannot be served as asked (no such station, a conflicting job). */
export class RequestRefusedError extends ProcessorError {
  /** The service error code the reply carries. */
  readonly status: ServiceErrorCode;

  /**
   * Refuses a service request.
   *
   * @param status the service error code of the reply
   * @param message why, for the requester
   * @param options `cause` chains
   */
  constructor(status: ServiceErrorCode, message: string, options?: ErrorOptions) {
    super(ErrorCode.USAGE, message, options);
    this.name = "RequestRefusedError";
    this.status = status;
  }
}

/** The service error code for a failure. */
export function serviceErrorCode(error: unknown): ServiceErrorCode {
  if (error instanceof RequestRefusedError) return error.status;
  if (error instanceof SubjectError || error instanceof MessageError) return ServiceErrorCode.BAD_REQUEST;
  if (error instanceof ProcessorError) {
    if (error.code === ErrorCode.USAGE || error.code === ErrorCode.CONFIG_INVALID) {
      return ServiceErrorCode.BAD_REQUEST;
    }
  }
  return ServiceErrorCode.INTERNAL;
}
