/**
 * Every payload on the bus: one type per message, `decodeX` guards that turn bytes into a checked
 * value or throw a {@linkcode MessageError}, and the frame headers' parsers. Requests are decoded
 * strictly (unknown fields, wrong types and absurd values are refused with a reason); events are
 * decoded leniently enough that a newer service adding a field does not break an older client.
 *
 * @module
 */
import { MessageError } from "./errors.ts";
import { isStationId, printable } from "./subjects.ts";

/** Why a frame got no score. Every frame that is not scored gets a result carrying one of these. */
export const FrameErrorReason = {
  /** Zero-byte payload. */
  empty: "empty",
  /** Payload over `--max-frame-bytes`, or an image header announcing more than `--max-pixels`. */
  tooLarge: "too-large",
  /** Not PNG or JPEG, truncated or corrupt. */
  undecodable: "undecodable",
  /** The subject names no valid station (result on `adp.results.$invalid`). */
  invalidStation: "invalid-station",
  /** The station has not been enrolled. */
  noProfile: "no-profile",
  /** The station's profile on disk was refused (corrupt, truncated, another model). */
  profileInvalid: "profile-invalid",
  /** Dropped from a full queue: the newest frames of a station are kept. */
  overload: "overload",
  /** The model failed on the batch. */
  scoringFailed: "scoring-failed",
  /** A triggered camera had no frame in time (published by `adp camera --trigger`, not the service). */
  captureFailed: "capture-failed",
} as const;

/** One of {@linkcode FrameErrorReason}'s values. */
export type FrameErrorReason = typeof FrameErrorReason[keyof typeof FrameErrorReason];

/** The model a service runs. */
export interface ModelRef {
  /** The checkpoint folder's name. */
  id: string;
  /** sha256 of the weights file. */
  hash: string;
}

/** `adp.results.<station>`: one per frame received, scored or not. */
export interface ResultMessage {
  station: string;
  /** The `Adp-Frame-Id` header, or an id the service made up when there was none (or it was unusable). */
  frameId: string;
  /** The `Adp-Captured-At` header as RFC 3339, null when absent or unreadable. */
  capturedAt: string | null;
  /** When the service received the frame (RFC 3339). */
  receivedAt: string;
  /** When the result was made (RFC 3339). */
  scoredAt: string;
  /** Fused, standardised anomaly score (normal parts near 0); null when not scored. */
  score: number | null;
  /** P(anomalous) of the text branch; null when not scored. */
  textScore: number | null;
  /** Patch branch image score; null when not scored. */
  patchScore: number | null;
  threshold: number | null;
  anomalous: boolean | null;
  profileVersion: number | null;
  model: ModelRef;
  /** From receipt to this result, in the service. */
  latencyMs: number;
  /** Why the frame was not scored: one clear sentence. */
  error?: string;
  reason?: FrameErrorReason;
}

/** A hot region of an anomaly map, in frame pixels. */
export interface AnomalyRegion {
  x: number;
  y: number;
  width: number;
  height: number;
  /** Highest map value inside. */
  peak: number;
  /** Share of the frame's area, 0–1. */
  area: number;
}

/** Where a heat-map PNG was put. */
export interface HeatmapRef {
  /** `object-store`: key in NATS object store `bucket`; `file`: path relative to the state dir. */
  store: "object-store" | "file";
  bucket?: string;
  key: string;
  width: number;
  height: number;
  contentType: "image/png";
}

/** The anomaly map's summary. */
export interface MapSummary {
  width: number;
  height: number;
  min: number;
  max: number;
  /** Level above which pixels form regions: 60% of the way from the map's median to its peak. */
  level: number;
  /** Up to 5, hottest first. */
  regions: AnomalyRegion[];
}

/** `adp.anomalies.<station>`: the result of an anomalous frame, with the map and the heat map. */
export interface AnomalyMessage extends ResultMessage {
  score: number;
  threshold: number;
  anomalous: true;
  profileVersion: number;
  frameWidth: number;
  frameHeight: number;
  map: MapSummary;
  /** The overlay PNG (map blended over the frame); null when it could not be made or stored. */
  heatmap: HeatmapRef | null;
  heatmapError?: string;
}

/** Bounds of an enrollment request. */
export const ENROLL_LIMITS = {
  minShots: 1,
  maxShots: 16,
  maxSteps: 1000,
  maxSeed: 2 ** 32 - 1,
  maxLabel: 64,
  maxFrameId: 128,
} as const;

/** `adp.enroll.<station>` request. */
export interface EnrollRequest {
  /** Good parts to learn from (1–16). */
  shots: number;
  seed?: number;
  /** The part's name ("bottle"). */
  label?: string;
  /** Adam steps per concept (1–1000). */
  steps?: number;
  /**
   * Frames still held in the station's ring buffer to enroll from instead of the next `shots`
   * frames; exactly `shots` distinct ids.
   */
  frameIds?: string[];
}

/** Why an enrollment request was refused. */
export const EnrollRefusal = {
  badRequest: "bad-request",
  invalidStation: "invalid-station",
  alreadyEnrolling: "already-enrolling",
  framesNotFound: "frames-not-found",
  stopping: "stopping",
} as const;

/** One of {@linkcode EnrollRefusal}'s values. */
export type EnrollRefusal = typeof EnrollRefusal[keyof typeof EnrollRefusal];

/** The reply to an enrollment request. */
export type EnrollReply =
  | {
    ok: true;
    jobId: string;
    station: string;
    shots: number;
    /** `next-frames`: the next `shots` frames; `frame-ids`: the frames named in the request. */
    source: "next-frames" | "frame-ids";
    /** Jobs of other stations queued for the model before this one. */
    jobsAhead: number;
  }
  | { ok: false; station: string; code: EnrollRefusal; error: string };

/** Stages of a job beyond enrollment's own (see `EnrollStage` in src/adp/enroll.ts). */
export const JobStage = {
  queued: "queued",
  collecting: "collecting",
  saving: "saving",
  done: "done",
  failed: "failed",
} as const;

/** `adp.enroll.<station>.progress` */
export interface EnrollProgressMessage {
  jobId: string;
  station: string;
  /** `collecting`, `queued`, an enrollment stage (`features` … `calibration`), `saving`, `done` or `failed`. */
  stage: string;
  /** Of the enrollment, 0–100. */
  percent: number;
  etaSeconds: number | null;
  message: string;
  /** RFC 3339. */
  at: string;
  /** Set on the last message of a job. */
  done?: boolean;
  /** The new profile's version (on `done`). */
  profileVersion?: number;
  /** Why the job failed (on `failed`); the previous profile stays in force. */
  error?: string;
  step?: number;
  steps?: number;
  loss?: number;
}

/** A profile as listed by the service. */
export interface ProfileSummary {
  station: string;
  version: number;
  threshold: number;
  createdAt: string;
  label: string | null;
  shots: number;
  model: ModelRef;
}

/** Latency percentiles over the last frames (up to 1024). */
export interface LatencySummary {
  p50: number | null;
  p99: number | null;
  count: number;
}

/** One station in `adp.svc.status`. */
export interface StationStatus {
  station: string;
  profileVersion: number | null;
  threshold: number | null;
  /** Why the station's profile file was refused, when it was. */
  profileError: string | null;
  received: number;
  scored: number;
  anomalies: number;
  /** Frames that got an error result, by reason. */
  dropped: Partial<Record<FrameErrorReason, number>>;
  latencyMs: LatencySummary;
  /** Frames waiting in the station's queue now. */
  queued: number;
  /** The running or queued enrollment job, if any. */
  enrolling: string | null;
}

/** `adp.svc.status` reply (one per instance). */
export interface StatusReply {
  instance: string;
  model: ModelRef & { provider: string };
  startedAt: string;
  queueGroup: string;
  jetstream: boolean;
  workers: number;
  maxBatch: number;
  maxWaitMs: number;
  /** Frames whose subject named no valid station. */
  invalidStationFrames: number;
  /** Anomaly events whose heat map was skipped or failed. */
  heatmapFailures: number;
  enrollQueue: number;
  stations: StationStatus[];
}

/** `adp.svc.profiles.list` reply. */
export interface ProfileListReply {
  profiles: ProfileSummary[];
  /** Stations whose profile file was refused, and why. */
  refused: { station: string; error: string }[];
}

/** `adp.svc.profiles.get` / `profiles.delete` request. */
export interface StationRequest {
  station: string;
}

/** `adp.svc.threshold.set` request. */
export interface ThresholdSetRequest {
  station: string;
  /** In fused, standardised units (normal parts score near 0). */
  threshold: number;
}

/** `adp.svc.threshold.set` reply. */
export interface ThresholdSetReply {
  station: string;
  threshold: number;
  previous: number;
  profileVersion: number;
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** JSON bytes of a message. */
export function encodeMessage(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Largest request body decoded; requests are a few hundred bytes. */
const MAX_REQUEST_BYTES = 64 * 1024;

function parseJson(data: Uint8Array | string, what: string, limit = Infinity): unknown {
  if (typeof data !== "string" && data.length > limit) {
    throw new MessageError(`${what} is too large: ${data.length} bytes, the limit is ${limit}`);
  }
  let text: string;
  try {
    text = typeof data === "string" ? data : decoder.decode(data);
  } catch (error) {
    throw new MessageError(`${what} is not UTF-8 text`, { cause: error });
  }
  if (text.trim() === "") throw new MessageError(`${what} is empty: expected a JSON object`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new MessageError(`${what} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

type Fields = Record<string, unknown>;

function object(value: unknown, what: string): Fields {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new MessageError(`${what} must be a JSON object`);
  }
  return value as Fields;
}

function onlyFields(fields: Fields, allowed: readonly string[], what: string): void {
  const unknown = Object.keys(fields).filter((k) => !allowed.includes(k));
  if (unknown.length) {
    throw new MessageError(
      `${what} has unknown field${unknown.length > 1 ? "s" : ""} ${
        unknown.map((k) => JSON.stringify(printable(k))).join(", ")
      }: allowed are ${allowed.join(", ")}`,
    );
  }
}

function integer(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new MessageError(`Field ${name} must be an integer from ${min} to ${max}: got ${describe(v)}`);
  }
  return v;
}

function finite(v: unknown, name: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new MessageError(`Field ${name} must be a finite number: got ${describe(v)}`);
  }
  return v;
}

function text(v: unknown, name: string, max: number): string {
  // deno-lint-ignore no-control-regex
  if (typeof v !== "string" || v.length === 0 || v.length > max || /[\x00-\x1f\x7f]/.test(v)) {
    throw new MessageError(
      `Field ${name} must be 1–${max} characters without control characters: got ${describe(v)}`,
    );
  }
  return v;
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(printable(v));
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v === null) return "null";
  if (typeof v === "object") return "an object";
  return String(v);
}

/**
 * Decodes and validates an enrollment request. Unknown fields, absurd shot counts and malformed
 * frame id lists are refused.
 *
 * @param data the request body
 * @returns the request
 * @throws {MessageError} saying what is wrong
 *
 * @example
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert/strict";
 * deepStrictEqual(decodeEnrollRequest('{"shots":8,"seed":3}'), { shots: 8, seed: 3 });
 * throws(() => decodeEnrollRequest('{"shots":1000000}'), /shots must be an integer from 1 to 16/);
 * throws(() => decodeEnrollRequest('{"shots":4,"force":true}'), /unknown field "force"/);
 * ```
 */
export function decodeEnrollRequest(data: Uint8Array | string): EnrollRequest {
  const what = "Enrollment request";
  const f = object(parseJson(data, what, MAX_REQUEST_BYTES), what);
  onlyFields(f, ["shots", "seed", "label", "steps", "frameIds"], what);
  if (f.shots === undefined) {
    throw new MessageError(`${what} lacks field shots (1–${ENROLL_LIMITS.maxShots})`);
  }
  const req: EnrollRequest = {
    shots: integer(f.shots, "shots", ENROLL_LIMITS.minShots, ENROLL_LIMITS.maxShots),
  };
  if (f.seed !== undefined) req.seed = integer(f.seed, "seed", 0, ENROLL_LIMITS.maxSeed);
  if (f.label !== undefined) req.label = text(f.label, "label", ENROLL_LIMITS.maxLabel);
  if (f.steps !== undefined) req.steps = integer(f.steps, "steps", 1, ENROLL_LIMITS.maxSteps);
  if (f.frameIds !== undefined) {
    if (!Array.isArray(f.frameIds)) throw new MessageError("Field frameIds must be a list of frame ids");
    const ids = f.frameIds.map((id, i) => text(id, `frameIds[${i}]`, ENROLL_LIMITS.maxFrameId));
    if (new Set(ids).size !== ids.length) throw new MessageError("Field frameIds lists a frame twice");
    if (ids.length !== req.shots) {
      throw new MessageError(`Field frameIds lists ${ids.length} frames but shots is ${req.shots}`);
    }
    req.frameIds = ids;
  }
  return req;
}

/**
 * Decodes a request naming one station (`profiles.get`, `profiles.delete`).
 *
 * @throws {MessageError} when it is not `{"station": "<id>"}`
 */
export function decodeStationRequest(data: Uint8Array | string): StationRequest {
  const what = "Request";
  const f = object(parseJson(data, what, MAX_REQUEST_BYTES), what);
  onlyFields(f, ["station"], what);
  return { station: stationField(f.station) };
}

/**
 * Decodes a `threshold.set` request.
 *
 * @throws {MessageError} when it is not `{"station": "<id>", "threshold": <finite number>}`
 */
export function decodeThresholdSetRequest(data: Uint8Array | string): ThresholdSetRequest {
  const what = "Threshold request";
  const f = object(parseJson(data, what, MAX_REQUEST_BYTES), what);
  onlyFields(f, ["station", "threshold"], what);
  return { station: stationField(f.station), threshold: finite(f.threshold, "threshold") };
}

function stationField(v: unknown): string {
  if (!isStationId(v)) {
    throw new MessageError(
      `Field station must be a station id (1–64 characters of A–Z, a–z, 0–9, _ and -): got ${describe(v)}`,
    );
  }
  return v;
}

type FieldType = "string" | "number" | "boolean" | "object";

function checkEvent(
  f: Fields,
  what: string,
  required: Record<string, FieldType | `nullable-${FieldType}`>,
): void {
  for (const [key, spec] of Object.entries(required)) {
    const v = f[key];
    const nullable = spec.startsWith("nullable-");
    const type = (nullable ? spec.slice("nullable-".length) : spec) as FieldType;
    const ok = (nullable && v === null) || (v !== null && typeof v === type);
    if (!ok) throw new MessageError(`${what} field ${key} is not ${nullable ? "null or " : ""}${type}`);
  }
}

const RESULT_FIELDS: Record<string, FieldType | `nullable-${FieldType}`> = {
  station: "string",
  frameId: "string",
  capturedAt: "nullable-string",
  scoredAt: "string",
  score: "nullable-number",
  threshold: "nullable-number",
  anomalous: "nullable-boolean",
  profileVersion: "nullable-number",
  model: "object",
  latencyMs: "number",
};

/**
 * Decodes a result event.
 *
 * @throws {MessageError} when a contract field is missing or of the wrong type
 */
export function decodeResult(data: Uint8Array | string): ResultMessage {
  const f = object(parseJson(data, "Result"), "Result");
  checkEvent(f, "Result", RESULT_FIELDS);
  return f as unknown as ResultMessage;
}

/**
 * Decodes an anomaly event.
 *
 * @throws {MessageError} when a contract field is missing or of the wrong type
 */
export function decodeAnomaly(data: Uint8Array | string): AnomalyMessage {
  const f = object(parseJson(data, "Anomaly event"), "Anomaly event");
  checkEvent(f, "Anomaly event", { ...RESULT_FIELDS, score: "number", map: "object" });
  if (f.heatmap !== null && typeof f.heatmap !== "object") {
    throw new MessageError("Anomaly event field heatmap is not null or an object");
  }
  return f as unknown as AnomalyMessage;
}

/**
 * Decodes an enrollment reply.
 *
 * @throws {MessageError} when it is neither an acknowledgement nor a refusal
 */
export function decodeEnrollReply(data: Uint8Array | string): EnrollReply {
  const f = object(parseJson(data, "Enrollment reply"), "Enrollment reply");
  if (f.ok === true) {
    checkEvent(f, "Enrollment reply", { jobId: "string", station: "string", shots: "number" });
  } else if (f.ok === false) checkEvent(f, "Enrollment reply", { code: "string", error: "string" });
  else throw new MessageError("Enrollment reply field ok is not a boolean");
  return f as unknown as EnrollReply;
}

/**
 * Decodes an enrollment progress message.
 *
 * @throws {MessageError} when a field is missing or of the wrong type
 */
export function decodeEnrollProgress(data: Uint8Array | string): EnrollProgressMessage {
  const f = object(parseJson(data, "Enrollment progress"), "Enrollment progress");
  checkEvent(f, "Enrollment progress", {
    jobId: "string",
    station: "string",
    stage: "string",
    percent: "number",
    etaSeconds: "nullable-number",
    message: "string",
  });
  return f as unknown as EnrollProgressMessage;
}

// ---------------------------------------------------------------------------------------------
// Frame headers

/** Frame ids: printable ASCII without spaces, up to 128 characters. */
export const FRAME_ID_REGEXP: RegExp = /^[\x21-\x7e]{1,128}$/;

const RFC3339_REGEXP = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const EPOCH_MS_REGEXP = /^\d{1,16}$/;

/** The frame id header when usable, else undefined (the service then makes one up). */
export function parseFrameId(value: string | null | undefined): string | undefined {
  return value && FRAME_ID_REGEXP.test(value) ? value : undefined;
}

/**
 * The capture time header (RFC 3339 or epoch milliseconds) as RFC 3339 in UTC; null when absent
 * or unreadable.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(parseCapturedAt("1700000000000"), "2023-11-14T22:13:20.000Z");
 * strictEqual(parseCapturedAt("2024-05-01T08:00:00+02:00"), "2024-05-01T06:00:00.000Z");
 * strictEqual(parseCapturedAt("yesterday"), null);
 * ```
 */
export function parseCapturedAt(value: string | null | undefined): string | null {
  if (!value) return null;
  let ms: number;
  if (EPOCH_MS_REGEXP.test(value)) ms = Number(value);
  else if (RFC3339_REGEXP.test(value)) ms = Date.parse(value);
  else return null;
  if (!Number.isFinite(ms)) return null;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
