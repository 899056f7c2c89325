/**
 * `adp.svc.roi.set`: a station's region of interest changed as a new profile version. The request
 * is checked through the one guard; the new version is the profile in force with the region set
 * (or removed when the request names neither list) and a revision saying who changed it, when, and
 * from which version. Concepts, memory, fusion and threshold are kept: a region only ever lowers a
 * frame's score (adp/roi.ts), so the calibrated false-reject rate stays an upper bound.
 *
 * @module
 */
import { checkRoi, type RegionOfInterest, type StationProfile } from "../adp/mod.ts";
import { Guard } from "../guard.ts";
import { MessageError } from "./errors.ts";
import { stationField } from "./messages.ts";

/** `adp.svc.roi.set` request: no list and no mask clear the region. */
export interface RoiSetRequest extends RegionOfInterest {
  /** The station whose region is set. */
  station: string;
  /** Who asks (an operator's login, a tool's name), recorded in the revision. */
  by?: string;
  /** Why, recorded in the revision. */
  note?: string;
}

/** `adp.svc.roi.set` reply. */
export interface RoiSetReply {
  /** The station. */
  station: string;
  /** The region now in force; null: the whole frame. */
  roi: RegionOfInterest | null;
  /** The new profile version, in force when the reply is sent. */
  profileVersion: number;
  /** The version it was made from. */
  previousVersion: number;
}

/** Regions are larger than other requests: 64 polygons of 1024 points, or a mask of 100 000 runs, fit. */
const MAX_ROI_REQUEST_BYTES = 1024 * 1024;

const guard = new Guard((message, options) => new MessageError(message, options));

/**
 * Decodes a `roi.set` request.
 *
 * @throws {MessageError} naming the first bad field
 *
 * @example
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert/strict";
 * deepStrictEqual(
 *   decodeRoiSetRequest('{"station":"a","ignore":[[[0,0],[9,0],[9,9]]]}'),
 *   { station: "a", ignore: [[[0, 0], [9, 0], [9, 9]]] },
 * );
 * throws(() => decodeRoiSetRequest('{"station":"a","ignore":[[[0,0]]]}'), /field ignore\[0\] must be a polygon/);
 * ```
 */
export function decodeRoiSetRequest(data: Uint8Array | string): RoiSetRequest {
  const f = guard.object(guard.parseJson(data, "ROI request", MAX_ROI_REQUEST_BYTES), "request");
  guard.only(f, ["station", "include", "ignore", "mask", "by", "note"], "request");
  const req: RoiSetRequest = { station: stationField(f.station) };
  // Fields named as the sender wrote them ("ignore[0]"), not under a parent.
  const roi = checkRoi(guard, withoutUndefined({ include: f.include, ignore: f.ignore, mask: f.mask }), "");
  if (roi.include) req.include = roi.include;
  if (roi.ignore) req.ignore = roi.ignore;
  if (roi.mask) req.mask = roi.mask;
  if (f.by !== undefined) req.by = guard.string(f.by, "by", { max: 256, controls: false });
  if (f.note !== undefined) req.note = guard.string(f.note, "note", { max: 1024, controls: false });
  return req;
}

function withoutUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/**
 * The next version of `profile` with the request's region (none: the whole frame again).
 *
 * @param profile the profile in force (left unchanged)
 * @param req the decoded request
 * @param at when (for the revision)
 */
export function profileWithRoi(profile: StationProfile, req: RoiSetRequest, at = new Date()): StationProfile {
  const meta = structuredClone(profile.meta);
  const roi: RegionOfInterest = {};
  if (req.include?.length) roi.include = req.include;
  if (req.ignore?.length) roi.ignore = req.ignore;
  if (req.mask) roi.mask = req.mask;
  if (roi.include || roi.ignore || roi.mask) meta.roi = roi;
  else delete meta.roi;
  meta.version = profile.meta.version + 1;
  meta.revision = {
    kind: "roi",
    at: at.toISOString(),
    fromVersion: profile.meta.version,
    ...(req.by ? { by: req.by } : {}),
    ...(req.note ? { note: req.note } : {}),
  };
  return { ...profile, meta };
}

/** The reply once `next` (made from `previous`) is in force. */
export function roiSetReply(station: string, previous: StationProfile, next: StationProfile): RoiSetReply {
  return {
    station,
    roi: next.meta.roi ?? null,
    profileVersion: next.meta.version,
    previousVersion: previous.meta.version,
  };
}
