/**
 * A guard against a known fault of @nats-io/transport-node under Deno: when the server drops the
 * connection, the transport may still write to the ended socket ("write after end") or have a late
 * reset ("ECONNRESET") reported after it removed its listeners, and Deno reports either as an
 * uncaught error that would end the process. The client reconnects by itself either way, so a
 * bridge (which must outlive a NATS restart) logs these two and carries on; every other uncaught
 * error still ends the process.
 *
 * @module
 */

const LATE_SOCKET_ERROR_REGEXP = /write after end|ECONNRESET|EPIPE/;

/**
 * Installs the guard; returns a function that removes it.
 *
 * @param log where a swallowed error is reported
 * @returns the remover
 *
 * @example
 * ```ts
 * import { guardLateSocketErrors } from "./transport_guard.ts";
 * const remove = guardLateSocketErrors(() => {});
 * remove();
 * ```
 */
export function guardLateSocketErrors(log: (line: string) => void): () => void {
  const listener = (event: ErrorEvent) => {
    const text = `${event.error?.code ?? ""} ${event.error?.message ?? event.message}`;
    if (LATE_SOCKET_ERROR_REGEXP.test(text)) {
      event.preventDefault();
      log(`bridge: ignored a late NATS socket error (the client reconnects): ${text.trim()}`);
    }
  };
  globalThis.addEventListener("error", listener);
  return () => globalThis.removeEventListener("error", listener);
}
