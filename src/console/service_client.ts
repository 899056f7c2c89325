/**
 * The console's requests to the `adp` service, all over NATS, made through the stream area's
 * clients: status from every instance, a station's profile and history, the threshold, rollback
 * and feedback. Each returns a typed value or throws a {@linkcode ConsoleRequestError} carrying the
 * service's sentence and the HTTP status the browser gets.
 *
 * @module
 */
import type { ProfileMeta } from "../adp/mod.ts";
import {
  type BusConnection,
  encodeMessage,
  Endpoint,
  type FeedbackReply,
  type FeedbackRequest,
  type ProfileHistoryReply,
  type ProfileListReply,
  requestFeedback,
  RequestRefusedError,
  requestService,
  type RollbackReply,
  type RollbackRequest,
  serviceSubject,
  type StatusReply,
  type ThresholdSetReply,
} from "../stream/mod.ts";
import { ConsoleRequestError } from "./errors.ts";

/**
 * Gathers `adp.svc.status` from every instance that answers within `waitMs`.
 *
 * @param nc the connection
 * @param waitMs how long to gather replies
 * @returns one reply per instance (none when the service is down)
 */
export async function gatherStatus(nc: BusConnection, waitMs = 600): Promise<StatusReply[]> {
  const replies: StatusReply[] = [];
  try {
    const iter = await nc.requestMany(serviceSubject(Endpoint.status), encodeMessage({}), {
      strategy: "timer",
      maxWait: waitMs,
    });
    for await (const msg of iter) {
      if (msg.headers?.get("Nats-Service-Error-Code")) continue;
      replies.push(msg.json<StatusReply>());
    }
  } catch {
    // No responders: the service is down; the empty list says so.
  }
  return replies;
}

/** The service's refusal keeps its status (404, 409, …); no answer at all is 503. */
async function asConsoleError<T>(request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (error) {
    const refused = error instanceof RequestRefusedError;
    const status = refused && error.status >= 400 && error.status < 600 ? error.status : refused ? 502 : 503;
    throw new ConsoleRequestError((error as Error).message, status, { cause: error });
  }
}

function call<T>(nc: BusConnection, endpoint: Endpoint, body: unknown): Promise<T> {
  return asConsoleError(requestService<T>(nc, endpoint, body));
}

/** Every station with a profile (`adp.svc.profiles.list`), including those that have sent no frame yet. */
export function listProfiles(nc: BusConnection): Promise<ProfileListReply> {
  return call(nc, Endpoint.profilesList, {});
}

/** A station's profile metadata (`adp.svc.profiles.get`). */
export function getProfile(
  nc: BusConnection,
  station: string,
): Promise<{ station: string; meta: ProfileMeta }> {
  return call(nc, Endpoint.profilesGet, { station });
}

/** Sets a station's threshold (`adp.svc.threshold.set`). */
export function setThreshold(
  nc: BusConnection,
  station: string,
  threshold: number,
): Promise<ThresholdSetReply> {
  return call(nc, Endpoint.thresholdSet, { station, threshold });
}

/** A station's kept versions, newest first (`adp.svc.profiles.history`). */
export function profileHistory(nc: BusConnection, station: string): Promise<ProfileHistoryReply> {
  return call(nc, Endpoint.profilesHistory, { station });
}

/** Puts a kept version back in force (`adp.svc.profiles.rollback`). */
export function rollback(nc: BusConnection, req: RollbackRequest): Promise<RollbackReply> {
  return call(nc, Endpoint.profilesRollback, req);
}

/** Labels a frame on `adp.feedback.<station>`; resolves with the version it made, once in force. */
export function sendFeedback(
  nc: BusConnection,
  station: string,
  req: FeedbackRequest,
): Promise<FeedbackReply> {
  return asConsoleError(requestFeedback(nc, station, req));
}
