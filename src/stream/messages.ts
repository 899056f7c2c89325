/**
 * Every payload on the bus: one type per message, `decodeX` guards that turn bytes into a checked
 * value or throw a {@linkcode MessageError}, and the frame headers' parsers. Requests are decoded
 * strictly (unknown fields, wrong types and absurd values are refused with a reason); events are
 * decoded leniently enough that a newer service adding a field does not break an older client.
 *
 * @module
 */
import { MessageError } from "./errors.ts";
import { describeValue, type Fields, Guard } from "../guard.ts";
import { isStationId } from "./subjects.ts";
import { SYNTH_MODES, type SynthMode } from "../adp/synth/mod.ts";

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
  /** The station has no profile in force yet and is enrolling. */
  enrolling: "enrolling",
  /** The station's profile on disk was refused (corrupt, truncated, another model). */
  profileInvalid: "profile-invalid",
  /** Dropped from a full queue: the newest frames of a station are kept. */
  overload: "overload",
  /** The model failed on the batch. */
  scoringFailed: "scoring-failed",
  /** The service stopped (SIGTERM) before the frame's turn came, past `--stop-grace-ms`: send it again. */
  stopping: "stopping",
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
  /** The station the frame came from. */
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
  /** The station's threshold in force, in the score's units; null when it has no profile. */
  threshold: number | null;
  /** Whether `score` reached `threshold`; null when not scored. */
  anomalous: boolean | null;
  /** Version of the profile that scored the frame (or is in force); null when there is none. */
  profileVersion: number | null;
  /** The model the service runs. */
  model: ModelRef;
  /** From receipt to this result, in the service. */
  latencyMs: number;
  /** Why the frame was not scored: one clear sentence. */
  error?: string;
  /** Why the frame was not scored, as a code to act on (`error` says it in words). */
  reason?: FrameErrorReason;
}

/** A hot region of an anomaly map, in frame pixels. */
export interface AnomalyRegion {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  /** Width. */
  width: number;
  /** Height. */
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
  /** The object store bucket (`object-store` only). */
  bucket?: string;
  /** Object key, or file path relative to the state dir. */
  key: string;
  /** PNG width in pixels. */
  width: number;
  /** PNG height in pixels. */
  height: number;
  /** Always PNG. */
  contentType: "image/png";
}

/** The anomaly map's summary. */
export interface MapSummary {
  /** Map width in cells. */
  width: number;
  /** Map height in cells. */
  height: number;
  /** Lowest map value. */
  min: number;
  /** Highest map value. */
  max: number;
  /** Level above which pixels form regions: 60% of the way from the map's median to its peak. */
  level: number;
  /** Up to 5, hottest first. */
  regions: AnomalyRegion[];
  /**
   * The map itself, coarse: at most 32×32 cells (each the maximum of the map cells it covers),
   * quantised to a byte between `min` (0) and `max` (255), row-major, base64. A reader can then
   * draw the map on a scale of its own choosing (the console's fixed per-station scale).
   * Absent from services that predate it.
   */
  grid?: { width: number; height: number; data: string };
}

/** `adp.anomalies.<station>`: the result of an anomalous frame, with the map and the heat map. */
export interface AnomalyMessage extends ResultMessage {
  /** Fused score: anomalous frames always have one. */
  score: number;
  /** The threshold the score reached. */
  threshold: number;
  /** Always true: only anomalous frames get an event. */
  anomalous: true;
  /** Version of the profile that scored the frame. */
  profileVersion: number;
  /** Frame width in pixels: regions are in frame pixels. */
  frameWidth: number;
  /** Frame height in pixels. */
  frameHeight: number;
  /** The anomaly map's summary. */
  map: MapSummary;
  /** The overlay PNG (map blended over the frame); null when it could not be made or stored. */
  heatmap: HeatmapRef | null;
  /** Why there is no heat map, when there is none. */
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
  /** Seed of everything random in enrollment (0 to 2³² − 1). */
  seed?: number;
  /** The part's name ("bottle"). */
  label?: string;
  /** Adam steps per concept (1–1000). */
  steps?: number;
  /**
   * What makes the pseudo-anomalies: `procedural` (default), `sd` or `mix`; `sd` and `mix` need the
   * service started with `--sd-model`, and run `procedural` otherwise (the profile records which ran).
   */
  synth?: SynthMode;
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
  /** The service tracks its limit of stations, none of them idle. */
  tooManyStations: "too-many-stations",
} as const;

/** One of {@linkcode EnrollRefusal}'s values. */
export type EnrollRefusal = typeof EnrollRefusal[keyof typeof EnrollRefusal];

/** The reply to an enrollment request. */
export type EnrollReply =
  | {
    /** Accepted: the job runs. */
    ok: true;
    /** The job's id, in every progress message of the job. */
    jobId: string;
    station: string;
    /** Frames the job enrolls from. */
    shots: number;
    /** `next-frames`: the next `shots` frames; `frame-ids`: the frames named in the request. */
    source: "next-frames" | "frame-ids";
    /** Jobs of other stations queued for the model before this one. */
    jobsAhead: number;
  }
  | {
    /** Refused: no job runs, the profile in force stays. */
    ok: false;
    station: string;
    /** Why, as a code to act on. */
    code: EnrollRefusal;
    /** Why, in words. */
    error: string;
  };

/** Stages of a job beyond enrollment's own (see `EnrollStage` in src/adp/enroll_progress.ts). */
export const JobStage = {
  queued: "queued",
  collecting: "collecting",
  saving: "saving",
  done: "done",
  failed: "failed",
  cancelled: "cancelled",
} as const;

/** `adp.enroll.<station>.progress` */
export interface EnrollProgressMessage {
  /** The job the message belongs to (from the enrollment reply). */
  jobId: string;
  /** The station being enrolled. */
  station: string;
  /** `collecting`, `queued`, an enrollment stage (`features` … `calibration`), `saving`, `done`, `failed`, `cancelled`. */
  stage: string;
  /** Of the enrollment, 0–100. */
  percent: number;
  /** Estimated seconds left; null before there is a basis for one. */
  etaSeconds: number | null;
  /** What is happening, in words. */
  message: string;
  /** RFC 3339. */
  at: string;
  /** Set on the last message of a job. */
  done?: boolean;
  /** The new profile's version (on `done`). */
  profileVersion?: number;
  /** Why the job failed (on `failed`); the previous profile stays in force. */
  error?: string;
  /** Optimisation step of the stage, when it has steps. */
  step?: number;
  /** Steps of the stage, when it has steps. */
  steps?: number;
  /** The stage's loss at `step`, when it has one. */
  loss?: number;
}

/** A profile as listed by the service. */
export interface ProfileSummary {
  /** The station. */
  station: string;
  /** Profile version (1 for the first enrollment). */
  version: number;
  /** Threshold in force, in the score's units. */
  threshold: number;
  /** When the profile was made (RFC 3339). */
  createdAt: string;
  /** The part's name given at enrollment, if any. */
  label: string | null;
  /** Good parts it was enrolled from. */
  shots: number;
  /** The model it was enrolled with. */
  model: ModelRef;
}

/** Latency percentiles over the last frames (up to 1024). */
export interface LatencySummary {
  /** Median in milliseconds; null before any frame. */
  p50: number | null;
  /** 99th percentile in milliseconds; null before any frame. */
  p99: number | null;
  /** Frames the percentiles are over. */
  count: number;
}

/** One station in `adp.svc.status`. */
export interface StationStatus {
  /** The station. */
  station: string;
  /** Version of the profile in force (or on disk, see `profileLoaded`); null when none. */
  profileVersion: number | null;
  /**
   * False when the station was evicted from the station table (`--max-stations`): its profile is on
   * disk, not in memory, and is loaded again on its next frame; its counters started again. Absent
   * when the profile, if any, is loaded.
   */
  profileLoaded?: false;
  /** Threshold in force; null when no profile. */
  threshold: number | null;
  /** Why the station's profile file was refused, when it was. */
  profileError: string | null;
  /** Frames received. */
  received: number;
  /** Frames scored. */
  scored: number;
  /** Frames found anomalous. */
  anomalies: number;
  /** Frames that got an error result, by reason. */
  dropped: Partial<Record<FrameErrorReason, number>>;
  /** Receipt-to-result latency. */
  latencyMs: LatencySummary;
  /** Frames waiting in the station's queue now. */
  queued: number;
  /** The running or queued enrollment job, if any. */
  enrolling: string | null;
}

/** `adp.svc.status` reply (one per instance). */
export interface StatusReply {
  /** This instance's id. */
  instance: string;
  /** The model, and the execution provider it runs on. */
  model: ModelRef & { provider: string };
  /** When the instance started (RFC 3339). */
  startedAt: string;
  /** Queue group of its frame, enrollment and profile subscriptions. */
  queueGroup: string;
  /** Whether JetStream is on (shared profiles, durable events). */
  jetstream: boolean;
  /** Decode workers. */
  workers: number;
  /** Frames per model batch. */
  maxBatch: number;
  /** Longest wait for a batch to fill. */
  maxWaitMs: number;
  /** Frames whose subject named no valid station. */
  invalidStationFrames: number;
  /** Stations forgotten to make room in the station table (`--max-stations`), with or without a profile. */
  evictedStations?: number;
  /** Frames whose header block did not parse as nats.js expects (read leniently; still answered). */
  malformedHeaderFrames?: number;
  /** Anomaly events whose heat map was skipped or failed. */
  heatmapFailures: number;
  /** Disconnections from NATS, and results published while disconnected (a subscriber also down missed them). */
  busFaults?: { disconnects: number; answeredWhileDisconnected: number };
  /** Enrollment jobs waiting for the model. */
  enrollQueue: number;
  /** Every station this instance has seen, by id. */
  stations: StationStatus[];
}

/** `adp.svc.profiles.list` reply. */
export interface ProfileListReply {
  /** Every station with a usable profile, by id. */
  profiles: ProfileSummary[];
  /** Stations whose profile file was refused, and why. */
  refused: { station: string; error: string }[];
}

/** `adp.svc.profiles.get` / `profiles.delete` request. */
export interface StationRequest {
  /** The station concerned. */
  station: string;
}

/** `adp.svc.threshold.set` request. */
export interface ThresholdSetRequest {
  /** The station whose threshold is set. */
  station: string;
  /** In fused, standardised units (normal parts score near 0). */
  threshold: number;
}

/** `adp.svc.threshold.set` reply. */
export interface ThresholdSetReply {
  /** The station. */
  station: string;
  /** The threshold now in force. */
  threshold: number;
  /** The threshold before. */
  previous: number;
  /** Version of the profile whose threshold changed. */
  profileVersion: number;
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding

const encoder = new TextEncoder();

/** JSON bytes of a message. */
export function encodeMessage(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Largest request body decoded; requests are a few hundred bytes. */
const MAX_REQUEST_BYTES = 64 * 1024;

/** Every payload is checked through this one guard: refusals read `field X must be …: got …`. */
const guard: Guard = new Guard((message, options) => new MessageError(message, options));

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
  const f = guard.object(guard.parseJson(data, "Enrollment request", MAX_REQUEST_BYTES), "request");
  guard.only(f, ["shots", "seed", "label", "steps", "synth", "frameIds"], "request");
  const shots = guard.integer(f.shots, "shots", { min: ENROLL_LIMITS.minShots, max: ENROLL_LIMITS.maxShots });
  const req: EnrollRequest = { shots };
  if (f.seed !== undefined) req.seed = guard.integer(f.seed, "seed", { min: 0, max: ENROLL_LIMITS.maxSeed });
  if (f.label !== undefined) {
    req.label = guard.string(f.label, "label", { max: ENROLL_LIMITS.maxLabel, controls: false });
  }
  if (f.steps !== undefined) {
    req.steps = guard.integer(f.steps, "steps", { min: 1, max: ENROLL_LIMITS.maxSteps });
  }
  if (f.synth !== undefined) {
    if (!(SYNTH_MODES as readonly unknown[]).includes(f.synth)) {
      guard.reject("synth", `one of ${SYNTH_MODES.join(", ")}`, f.synth);
    }
    req.synth = f.synth as SynthMode;
  }
  if (f.frameIds !== undefined) req.frameIds = frameIdsField(f.frameIds, shots);
  return req;
}

/** The request's frame ids: exactly `shots` distinct ones. */
function frameIdsField(v: unknown, shots: number): string[] {
  if (!Array.isArray(v)) guard.reject("frameIds", "a list of frame ids", v);
  const ids = v.map((id, i) =>
    guard.string(id, `frameIds[${i}]`, { max: ENROLL_LIMITS.maxFrameId, controls: false })
  );
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice !== undefined) {
    throw guard.error(`field frameIds must list each frame once: got ${describeValue(twice)} twice`);
  }
  if (ids.length !== shots) {
    throw guard.error(`field frameIds must list as many frames as shots (${shots}): got ${ids.length}`);
  }
  return ids;
}

/**
 * Decodes a request naming one station (`profiles.get`, `profiles.delete`).
 *
 * @throws {MessageError} when it is not `{"station": "<id>"}`
 */
export function decodeStationRequest(data: Uint8Array | string): StationRequest {
  const f = guard.object(guard.parseJson(data, "Request", MAX_REQUEST_BYTES), "request");
  guard.only(f, ["station"], "request");
  return { station: stationField(f.station) };
}

/**
 * Decodes a `threshold.set` request.
 *
 * @throws {MessageError} when it is not `{"station": "<id>", "threshold": <finite number>}`
 */
export function decodeThresholdSetRequest(data: Uint8Array | string): ThresholdSetRequest {
  const f = guard.object(guard.parseJson(data, "Threshold request", MAX_REQUEST_BYTES), "request");
  guard.only(f, ["station", "threshold"], "request");
  return { station: stationField(f.station), threshold: guard.number(f.threshold, "threshold") };
}

/** A request's `station` field, checked. */
export function stationField(v: unknown): string {
  if (!isStationId(v)) guard.reject("station", "a station id (1–64 characters of A–Z, a–z, 0–9, _ and -)", v);
  return v;
}

type FieldType = "string" | "number" | "boolean" | "object";

/** How a field type reads in a refusal. */
const FIELD_TYPE_TEXT: Record<FieldType, string> = {
  string: "a string",
  number: "a number",
  boolean: "true or false",
  object: "an object",
};

/**
 * Checks only the types of the contract's fields, leniently: a string may be empty and fields
 * not listed pass, so that a newer service adding or widening a field does not break this client.
 */
function checkEvent(f: Fields, required: Record<string, FieldType | `nullable-${FieldType}`>): void {
  for (const [key, spec] of Object.entries(required)) {
    const v = f[key];
    const nullable = spec.startsWith("nullable-");
    const type = (nullable ? spec.slice("nullable-".length) : spec) as FieldType;
    const ok = (nullable && v === null) || (v !== null && typeof v === type);
    if (!ok) guard.reject(key, `${nullable ? "null or " : ""}${FIELD_TYPE_TEXT[type]}`, v);
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
  const f = guard.object(guard.parseJson(data, "Result"), "result");
  checkEvent(f, RESULT_FIELDS);
  return f as unknown as ResultMessage;
}

/**
 * Decodes an anomaly event.
 *
 * @throws {MessageError} when a contract field is missing or of the wrong type
 */
export function decodeAnomaly(data: Uint8Array | string): AnomalyMessage {
  const f = guard.object(guard.parseJson(data, "Anomaly event"), "event");
  checkEvent(f, { ...RESULT_FIELDS, score: "number", map: "object" });
  if (f.heatmap !== null && typeof f.heatmap !== "object") {
    guard.reject("heatmap", "null or an object", f.heatmap);
  }
  return f as unknown as AnomalyMessage;
}

/**
 * Decodes an enrollment reply.
 *
 * @throws {MessageError} when it is neither an acknowledgement nor a refusal
 */
export function decodeEnrollReply(data: Uint8Array | string): EnrollReply {
  const f = guard.object(guard.parseJson(data, "Enrollment reply"), "reply");
  if (guard.boolean(f.ok, "ok")) checkEvent(f, { jobId: "string", station: "string", shots: "number" });
  else checkEvent(f, { code: "string", error: "string" });
  return f as unknown as EnrollReply;
}

/**
 * Decodes an enrollment progress message.
 *
 * @throws {MessageError} when a field is missing or of the wrong type
 */
export function decodeEnrollProgress(data: Uint8Array | string): EnrollProgressMessage {
  const f = guard.object(guard.parseJson(data, "Enrollment progress"), "progress");
  checkEvent(f, {
    jobId: "string",
    station: "string",
    stage: "string",
    percent: "number",
    etaSeconds: "nullable-number",
    message: "string",
  });
  return f as unknown as EnrollProgressMessage;
}
