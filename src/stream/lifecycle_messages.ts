/**
 * Requests and replies of the profile lifecycle endpoints (`adp.svc.profiles.history|rollback|
 * export|import`, `adp.svc.enroll.cancel`), decoded strictly like every request (messages.ts).
 *
 * Profiles can exceed NATS's max_payload (1 MiB by default), so export and import move a file in
 * chunks of at most {@linkcode PROFILE_CHUNK_BYTES}, base64 in JSON: each export request names an
 * offset of one immutable history version (any instance of the queue group can answer it), and each
 * import chunk is stashed where every instance can read it (the shared bucket with JetStream, else
 * the state dir) until the last one arrives.
 *
 * @module
 */
import { Guard } from "../guard.ts";
import { MessageError } from "./errors.ts";
import type { ProfileHistoryEntry } from "./profile_history.ts";
import { isStationId } from "./subjects.ts";

/** Raw bytes per export or import chunk: base64 makes it 4/3 larger, well under 1 MiB. */
export const PROFILE_CHUNK_BYTES = 256 * 1024;
/** Largest profile imported (a 16-shot profile with a wide backbone is a few tens of MB). */
export const MAX_IMPORT_BYTES = 512 * 1024 * 1024;

/** `adp.svc.profiles.history` reply. */
export interface ProfileHistoryReply {
  /** The station. */
  station: string;
  /** The version in force; null when the station has none. */
  inForce: number | null;
  /** Every kept version, newest first. */
  versions: ProfileHistoryEntry[];
}

/** `adp.svc.profiles.rollback` request. */
export interface RollbackRequest {
  /** The station. */
  station: string;
  /** The kept version to put back in force. */
  version: number;
  /** Who asks (an operator's login). */
  by?: string;
  /** Why. */
  note?: string;
}

/** `adp.svc.profiles.rollback` reply. */
export interface RollbackReply {
  /** The station. */
  station: string;
  /** The version now in force. */
  version: number;
  /** The version in force before; null when there was none. */
  previous: number | null;
  /** When the rollback was made (ISO 8601). */
  at: string;
}

/** `adp.svc.profiles.export` request: one chunk of a version's file. */
export interface ExportRequest {
  /** The station. */
  station: string;
  /** Which kept version; the one in force when absent. */
  version?: number;
  /** Byte offset of the chunk. @default 0 */
  offset?: number;
}

/** `adp.svc.profiles.export` reply: one chunk. */
export interface ExportReply {
  /** The station. */
  station: string;
  /** The version the chunk belongs to (ask the next chunks for it). */
  version: number;
  /** The whole file's size in bytes. */
  size: number;
  /** The whole file's SHA-256, hex. */
  sha256: string;
  /** Where this chunk starts. */
  offset: number;
  /** The chunk, base64. */
  data: string;
}

/** `adp.svc.profiles.import` request: one chunk of a profile file, sent in order. */
export interface ImportRequest {
  /** The station the profile is imported into. */
  station: string;
  /** The upload's id (the same for all its chunks; letters, digits, `_` and `-`). */
  upload: string;
  /** Where this chunk starts. */
  offset: number;
  /** The whole file's size in bytes. */
  size: number;
  /** The whole file's SHA-256, hex. */
  sha256: string;
  /** The chunk, base64. */
  data: string;
  /** Who imports. */
  by?: string;
  /** Why. */
  note?: string;
}

/** `adp.svc.profiles.import` reply: chunk received, or (after the last) the new version in force. */
export type ImportReply =
  | { station: string; upload: string; received: number; done: false }
  | { station: string; upload: string; received: number; done: true; version: number };

/** `adp.svc.enroll.cancel` reply. */
export interface EnrollCancelReply {
  /** The station, free to enroll again. */
  station: string;
  /** The job cancelled. */
  jobId: string;
  /** The version that stays in force; null when the station has none. */
  profileVersion: number | null;
}

const guard: Guard = new Guard((message, options) => new MessageError(message, options));
const MAX_CHUNK_REQUEST = 2 * PROFILE_CHUNK_BYTES;
const SMALL_REQUEST = 64 * 1024;
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Decodes a `profiles.rollback` request.
 *
 * @throws {MessageError} naming the first field that is wrong
 */
export function decodeRollbackRequest(data: Uint8Array | string): RollbackRequest {
  const f = guard.object(guard.parseJson(data, "Rollback request", SMALL_REQUEST), "request");
  guard.only(f, ["station", "version", "by", "note"], "request");
  return {
    station: station(f.station),
    version: guard.integer(f.version, "version", { min: 1 }),
    ...who(f),
  };
}

/**
 * Decodes a `profiles.export` request.
 *
 * @throws {MessageError} naming the first field that is wrong
 */
export function decodeExportRequest(data: Uint8Array | string): ExportRequest {
  const f = guard.object(guard.parseJson(data, "Export request", SMALL_REQUEST), "request");
  guard.only(f, ["station", "version", "offset"], "request");
  const req: ExportRequest = { station: station(f.station) };
  if (f.version !== undefined) req.version = guard.integer(f.version, "version", { min: 1 });
  if (f.offset !== undefined) req.offset = guard.integer(f.offset, "offset", { min: 0 });
  return req;
}

/**
 * Decodes a `profiles.import` chunk.
 *
 * @throws {MessageError} naming the first field that is wrong
 */
export function decodeImportRequest(data: Uint8Array | string): ImportRequest {
  const f = guard.object(guard.parseJson(data, "Import request", MAX_CHUNK_REQUEST), "request");
  guard.only(f, ["station", "upload", "offset", "size", "sha256", "data", "by", "note"], "request");
  const upload = guard.string(f.upload, "upload");
  if (!UPLOAD_ID.test(upload)) guard.reject("upload", "1–64 letters, digits, _ or -", upload);
  const sha256 = guard.string(f.sha256, "sha256");
  if (!SHA256_HEX.test(sha256)) guard.reject("sha256", "64 lowercase hex digits", sha256);
  const text = guard.string(f.data, "data");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) guard.reject("data", "base64", text.slice(0, 32));
  return {
    station: station(f.station),
    upload,
    offset: guard.integer(f.offset, "offset", { min: 0 }),
    size: guard.integer(f.size, "size", { min: 1, max: MAX_IMPORT_BYTES }),
    sha256,
    data: text,
    ...who(f),
  };
}

function station(v: unknown): string {
  if (!isStationId(v)) guard.reject("station", "a station id (1–64 characters of A–Z, a–z, 0–9, _ and -)", v);
  return v;
}

function who(f: Record<string, unknown>): { by?: string; note?: string } {
  const out: { by?: string; note?: string } = {};
  if (f.by !== undefined) out.by = guard.string(f.by, "by", { max: 256 });
  if (f.note !== undefined) out.note = guard.string(f.note, "note", { max: 1024 });
  return out;
}
