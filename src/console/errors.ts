/**
 * The console's one error: a request to the service (or from the browser) that could not be
 * served, with the HTTP status the browser gets.
 *
 * @module
 */

/** A request refused or failed, with the HTTP status to answer. */
export class ConsoleRequestError extends Error {
  /** The HTTP status for the browser. */
  readonly status: number;

  /**
   * Makes the error from one clear sentence and the status to answer.
   *
   * @param message one clear sentence
   * @param status the HTTP status
   * @param options `cause`
   */
  constructor(message: string, status: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConsoleRequestError";
    this.status = status;
  }
}
