/**
 * The only place NATS subjects, header names, bucket and stream names exist. Subjects are built by
 * validating functions, never by concatenation at call sites, so a station id can never smuggle a
 * wildcard, an extra token or a path into a subject or into the state dir.
 *
 * @module
 */
import { printable } from "../guard.ts";
import { SubjectError } from "./errors.ts";

/** Subject prefixes of the public contract (README "NATS contract"). */
export const SubjectPrefix = {
  frames: "adp.frames",
  results: "adp.results",
  anomalies: "adp.anomalies",
  enroll: "adp.enroll",
  service: "adp.svc",
  trigger: "adp.trigger",
  feedback: "adp.feedback",
} as const;

/** Station ids: what may follow a prefix, and what may name a profile file. */
export const STATION_ID_REGEXP: RegExp = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The station token under which results of frames whose subject names no valid station are
 * published. `$` cannot occur in a station id, so no real station can collide with it.
 */
export const INVALID_STATION = "$invalid";

/** Every camera's frames: what `adp serve` subscribes (in a queue group). */
export const FRAMES_WILDCARD = `${SubjectPrefix.frames}.>`;
/** Every station's results. */
export const RESULTS_WILDCARD = `${SubjectPrefix.results}.*`;
/** Every station's anomaly events (also the JetStream stream's subject filter). */
export const ANOMALIES_WILDCARD = `${SubjectPrefix.anomalies}.*`;
/** Every station's operator feedback (`adp.feedback.<station>`). */
export const FEEDBACK_WILDCARD = `${SubjectPrefix.feedback}.*`;
/** Every station's enrollment requests (progress subjects have one more token, so `*` excludes them). */
export const ENROLL_WILDCARD = `${SubjectPrefix.enroll}.*`;

/** Message headers of the contract. */
export const Header = {
  /** The camera's id for a frame; echoed on its result. */
  frameId: "Adp-Frame-Id",
  /** When the frame was captured: RFC 3339 or epoch milliseconds. */
  capturedAt: "Adp-Captured-At",
  /**
   * JetStream's de-duplication id (anomaly events: `<station>.<frameId>`; results of durable frames:
   * `<station>.frame-<frame stream sequence>`, the same on a redelivered frame's second answer).
   */
  msgId: "Nats-Msg-Id",
} as const;

/** The NATS micro service's name (`$SRV.PING.adp`, …). */
export const SERVICE_NAME = "adp";

/** Endpoint names of the `adp` service; each is served on `adp.svc.<name>`. */
export const Endpoint = {
  status: "status",
  profilesList: "profiles.list",
  profilesGet: "profiles.get",
  profilesDelete: "profiles.delete",
  profilesHistory: "profiles.history",
  profilesRollback: "profiles.rollback",
  profilesExport: "profiles.export",
  profilesImport: "profiles.import",
  thresholdSet: "threshold.set",
  roiSet: "roi.set",
  enrollCancel: "enroll.cancel",
} as const;

/** One of {@linkcode Endpoint}'s values. */
export type Endpoint = typeof Endpoint[keyof typeof Endpoint];

/** JetStream names used with `--jetstream`. */
export const JetStreamName = {
  /** Work-queue stream keeping frames until an instance has answered them (`--jetstream`). */
  frameStream: "ADP_FRAMES",
  /** Stream keeping results (`--jetstream`), one per durable frame (`Nats-Msg-Id`). */
  resultStream: "ADP_RESULTS",
  /** Stream keeping anomaly events, de-duplicated by `Nats-Msg-Id`. */
  anomalyStream: "ADP_ANOMALIES",
  /** Object store bucket sharing station profiles between instances. */
  profileBucket: "adp-profiles",
  /** Object store bucket keeping heat-map PNGs of anomalous frames. */
  heatmapBucket: "adp-heatmaps",
  /** Key-value bucket holding one lock per station while it enrolls anywhere in the queue group. */
  enrollLocks: "adp-enroll-locks",
} as const;

/** Whether `id` is a valid station id. */
export function isStationId(id: unknown): id is string {
  return typeof id === "string" && STATION_ID_REGEXP.test(id);
}

/**
 * Returns `id` when it is a valid station id.
 *
 * @throws {SubjectError} naming the rule otherwise
 */
export function checkStationId(id: unknown): string {
  if (isStationId(id)) return id;
  const shown = typeof id === "string" ? printable(id) : String(id);
  throw new SubjectError(
    `Station id ${JSON.stringify(shown)} is invalid: use 1–64 characters of A–Z, a–z, 0–9, _ and -`,
    { value: shown },
  );
}

/** `adp.frames.<station>` */
export function framesSubject(station: string): string {
  return `${SubjectPrefix.frames}.${checkStationId(station)}`;
}

/** `adp.results.<station>` */
export function resultsSubject(station: string): string {
  return `${SubjectPrefix.results}.${checkStationId(station)}`;
}

/** `adp.results.$invalid`: results of frames sent to a subject that names no valid station. */
export function invalidResultsSubject(): string {
  return `${SubjectPrefix.results}.${INVALID_STATION}`;
}

/** `adp.anomalies.<station>` */
export function anomaliesSubject(station: string): string {
  return `${SubjectPrefix.anomalies}.${checkStationId(station)}`;
}

/** `adp.feedback.<station>` */
export function feedbackSubject(station: string): string {
  return `${SubjectPrefix.feedback}.${checkStationId(station)}`;
}

/** `adp.enroll.<station>` */
export function enrollSubject(station: string): string {
  return `${SubjectPrefix.enroll}.${checkStationId(station)}`;
}

/** `adp.enroll.<station>.progress` */
export function enrollProgressSubject(station: string): string {
  return `${enrollSubject(station)}.progress`;
}

/** `adp.trigger.<station>`: a PLC asks the station's camera for a capture; the payload is the part id. */
export function triggerSubject(station: string): string {
  return `${SubjectPrefix.trigger}.${checkStationId(station)}`;
}

/** `adp.svc.<endpoint>` */
export function serviceSubject(endpoint: Endpoint): string {
  return `${SubjectPrefix.service}.${endpoint}`;
}

/**
 * Results and anomaly subjects for following one station or all (`*`).
 *
 * @throws {SubjectError} for an invalid station id
 */
export function eventSubjects(station: string): { results: string; anomalies: string } {
  if (station === "*") return { results: RESULTS_WILDCARD, anomalies: ANOMALIES_WILDCARD };
  return { results: resultsSubject(station), anomalies: anomaliesSubject(station) };
}

/**
 * What follows `prefix.` in `subject`, unvalidated (possibly several tokens, possibly hostile):
 * the station part of a received subject. Undefined when the subject does not start with the prefix.
 */
export function subjectRest(subject: string, prefix: string): string | undefined {
  return subject.startsWith(`${prefix}.`) ? subject.slice(prefix.length + 1) : undefined;
}

/** The de-duplication id of a frame's anomaly event. */
export function anomalyMsgId(station: string, frameId: string): string {
  return `${checkStationId(station)}.${frameId}`;
}
