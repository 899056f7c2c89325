/**
 * Requests to the `adp` micro service as a client makes them: the request encoded, a refusal turned
 * back into a typed error with the service's own sentence (from the JSON error body, else the
 * `Nats-Service-Error` header), no answer into a {@linkcode BusError} that says what to check.
 *
 * @module
 */
import type { BusConnection } from "./connect.ts";
import { explainRequestError } from "./connect.ts";
import { RequestRefusedError, type ServiceErrorCode } from "./errors.ts";
import { encodeMessage } from "./messages.ts";
import { type Endpoint, serviceSubject } from "./subjects.ts";

/** The JSON body of a refused request: the service error code and one sentence. */
export interface ServiceErrorBody {
  error: { status: number; message: string };
}

/** How long a client waits for the service by default. */
const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Sends `body` to an endpoint of the `adp` service and returns its JSON reply.
 *
 * @param nc the connection
 * @param endpoint which endpoint (`Endpoint.thresholdSet`, …)
 * @param body the request; none for endpoints that take none
 * @param opts how long to wait for the reply
 * @throws {RequestRefusedError} when the service refuses (its status and sentence)
 * @throws {BusError} when no service answers
 */
export function requestService<T>(
  nc: BusConnection,
  endpoint: Endpoint,
  body?: unknown,
  opts: { timeoutMs?: number } = {},
): Promise<T> {
  return requestJson<T>(nc, serviceSubject(endpoint), body, opts);
}

/**
 * Sends `body` on `subject` and returns the JSON reply; a refusal answered as the service's
 * endpoints answer (`Nats-Service-Error-Code` header, JSON error body) becomes a typed error.
 *
 * @throws {RequestRefusedError} when the service refuses (its status and sentence)
 * @throws {BusError} when no service answers
 */
export async function requestJson<T>(
  nc: BusConnection,
  subject: string,
  body?: unknown,
  opts: { timeoutMs?: number } = {},
): Promise<T> {
  let reply;
  try {
    reply = await nc.request(subject, body === undefined ? undefined : encodeMessage(body), {
      timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  } catch (error) {
    throw explainRequestError(error, subject);
  }
  const status = Number(reply.headers?.get("Nats-Service-Error-Code") ?? 0);
  if (status) {
    const fromBody = errorBody(reply.data);
    const message = fromBody?.message ?? reply.headers?.get("Nats-Service-Error") ?? "refused";
    throw new RequestRefusedError(status as ServiceErrorCode, message);
  }
  return reply.json<T>();
}

function errorBody(data: Uint8Array): ServiceErrorBody["error"] | undefined {
  if (!data.length) return undefined;
  try {
    const body = JSON.parse(new TextDecoder().decode(data)) as ServiceErrorBody;
    return typeof body?.error?.message === "string" ? body.error : undefined;
  } catch {
    return undefined;
  }
}
