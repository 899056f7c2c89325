/**
 * The console's requests to the `adp` service, all over NATS: status from every instance, a
 * station's profile, the threshold, and feedback. Each returns a typed value or throws a
 * {@linkcode ConsoleRequestError} with the service's reason.
 *
 * @module
 */
import type { ProfileMeta } from "../adp/mod.ts";
import {
  type BusConnection,
  checkStationId,
  encodeMessage,
  Endpoint,
  explainRequestError,
  type ProfileListReply,
  serviceSubject,
  type StatusReply,
  type ThresholdSetReply,
} from "../stream/mod.ts";
import { ConsoleRequestError } from "./errors.ts";

/** Prefix of operator feedback (ARCHITECTURE.md "Next"); src/stream/subjects.ts has no builder for it yet. */
export const FEEDBACK_PREFIX = "adp.feedback";

/** Subject of operator feedback on a frame: `adp.feedback.<station>`. */
export function feedbackSubject(station: string): string {
  return `${FEEDBACK_PREFIX}.${checkStationId(station)}`;
}

/** A good/defect mark on a frame. */
export interface Feedback {
  /** The frame marked. */
  frameId: string;
  /** What the operator says it is. */
  label: "good" | "defect";
  /** Why, in words. */
  note?: string;
}

/** What became of a feedback message. */
export interface FeedbackOutcome {
  /** Whether a service answered it. */
  answered: boolean;
  /** The service's reply, when it answered. */
  reply?: unknown;
  /** What happened, in words. */
  message: string;
}

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

async function call<T>(nc: BusConnection, endpoint: Endpoint, body: unknown, timeout = 5000): Promise<T> {
  const subject = serviceSubject(endpoint);
  let msg;
  try {
    msg = await nc.request(subject, encodeMessage(body), { timeout });
  } catch (error) {
    throw new ConsoleRequestError((explainRequestError(error, subject) as Error).message, 503, {
      cause: error,
    });
  }
  const code = msg.headers?.get("Nats-Service-Error-Code");
  if (code) {
    const status = Number(code);
    throw new ConsoleRequestError(
      msg.headers?.get("Nats-Service-Error") ?? "refused",
      status >= 400 && status < 600 ? status : 502,
    );
  }
  return msg.json<T>();
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

/**
 * Sends feedback on `adp.feedback.<station>` as a request; when no service answers (the service
 * side of feedback does not exist yet), it is published all the same and the outcome says so.
 */
export async function sendFeedback(
  nc: BusConnection,
  station: string,
  feedback: Feedback,
): Promise<FeedbackOutcome> {
  const subject = feedbackSubject(station);
  try {
    const msg = await nc.request(subject, encodeMessage(feedback), { timeout: 3000 });
    return { answered: true, reply: msg.json(), message: "The service took the feedback" };
  } catch {
    nc.publish(subject, encodeMessage(feedback));
    return {
      answered: false,
      message: `Published on ${subject}; no service answers feedback yet, so no new profile version follows`,
    };
  }
}
