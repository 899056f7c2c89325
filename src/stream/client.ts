/**
 * The client side of enrollment, written once: subscribe to the station's progress, then ask, then
 * follow only this job's messages until its outcome. Subscribing first is what guarantees that no
 * progress message is missed; filtering by job id is what keeps another client's job on the same
 * subject out.
 *
 * @module
 */
import type { BusConnection } from "./connect.ts";
import { EnrollmentError } from "../errors.ts";
import { explainRequestError } from "./connect.ts";
import {
  decodeEnrollProgress,
  decodeEnrollReply,
  encodeMessage,
  type EnrollProgressMessage,
  type EnrollReply,
  type EnrollRequest,
} from "./messages.ts";
import { Endpoint, enrollProgressSubject, enrollSubject } from "./subjects.ts";
import { RequestRefusedError, ServiceErrorCode } from "./errors.ts";
import { requestService } from "./service_client.ts";

/** The service's acknowledgement of an enrollment request. */
export type EnrollAccepted = Extract<EnrollReply, { ok: true }>;

/** Options of {@linkcode requestEnrollment}. */
export interface RequestEnrollmentOptions {
  /** How long to wait for the acknowledgement. @default 10000 */
  replyTimeoutMs?: number;
  /** How long to follow the job once accepted, before giving up on its outcome. @default 900000 */
  timeoutMs?: number;
  /**
   * Called once the job is accepted, before any of its progress is yielded: the moment to start
   * publishing the frames the job collects.
   */
  onAccepted?: (reply: EnrollAccepted) => void;
}

/**
 * Asks the service to enroll `station` and yields the job's progress messages; the last one has
 * `done` set and carries the outcome (`profileVersion`, or `error` when the job failed: the
 * previous profile then stays in force). A failed job is yielded, not thrown: the caller decides.
 *
 * @param nc the connection
 * @param station the station to enroll
 * @param request shots, seed, label, steps, frame ids
 * @param opts timeouts and the acceptance callback
 * @returns the job's progress, ending with its outcome
 * @throws {BusError} when no service answers the request
 * @throws {EnrollmentError} when the request is refused, or no outcome comes within `timeoutMs` (the job
 *   is then cancelled, so that the station is free, and the error says so)
 *
 * @example Enroll a station from its next four frames
 * ```ts ignore
 * import { connectNats, requestEnrollment } from "./mod.ts";
 * const nc = await connectNats({ servers: "nats://127.0.0.1:4222" });
 * for await (const p of requestEnrollment(nc, "line-1", { shots: 4 })) {
 *   console.log(p.stage, p.percent, p.error ?? p.profileVersion ?? "");
 * }
 * ```
 */
export async function* requestEnrollment(
  nc: BusConnection,
  station: string,
  request: EnrollRequest,
  opts: RequestEnrollmentOptions = {},
): AsyncGenerator<EnrollProgressMessage, void, undefined> {
  const subject = enrollSubject(station);
  const progress = nc.subscribe(enrollProgressSubject(station));
  try {
    let reply: EnrollReply;
    try {
      const timeout = opts.replyTimeoutMs ?? 10_000;
      reply = decodeEnrollReply((await nc.request(subject, encodeMessage(request), { timeout })).data);
    } catch (error) {
      throw explainRequestError(error, subject);
    }
    if (!reply.ok) throw new EnrollmentError(`Enrollment refused (${reply.code}): ${reply.error}`);
    opts.onAccepted?.(reply);
    const timeoutMs = opts.timeoutMs ?? 900_000;
    // Ending the subscription ends the loop below: the timeout needs no race.
    const timer = setTimeout(() => progress.unsubscribe(), timeoutMs);
    let last: EnrollProgressMessage | undefined;
    try {
      for await (const msg of progress) {
        const p = decodeEnrollProgress(msg.data);
        if (p.jobId !== reply.jobId) continue;
        yield last = p;
        if (p.done) return;
      }
    } finally {
      clearTimeout(timer);
    }
    throw new EnrollmentError(
      `No outcome of job ${reply.jobId} within ${timeoutMs / 1000} s${
        last ? ` (last: ${last.stage}, ${last.message})` : ""
      }: ${await giveUp(nc, station)}`,
    );
  } finally {
    if (!progress.isClosed()) progress.unsubscribe();
  }
}

/** Cancels a job the client stops following, so that the station is free; says what became of it. */
async function giveUp(nc: BusConnection, station: string): Promise<string> {
  try {
    await requestService(nc, Endpoint.enrollCancel, { station }, { timeoutMs: 3000 });
    return "the job was cancelled, the station is free to enroll again";
  } catch (error) {
    if (error instanceof RequestRefusedError && error.status === ServiceErrorCode.NOT_FOUND) {
      return "the job is no longer running";
    }
    return `the job could not be cancelled (${
      (error as Error).message
    }): adp enroll --station ${station} --cancel`;
  }
}
