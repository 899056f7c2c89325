/**
 * What a PLC sees of a station: the last verdict and running counts, folded from
 * `adp.results.<station>`. A result without a verdict (the frame was not scored, or a trigger got no
 * frame) reads as anomalous and not valid: the part is rejected, never passed unseen.
 *
 * @module
 */
import type { ResultMessage } from "../stream/mod.ts";

/** One station's PLC-visible state. */
export interface StationState {
  station: string;
  /** The last frame's verdict; true also when the last frame could not be scored (fail safe). */
  anomalous: boolean;
  /** Whether the last result carried a verdict (false: an error result). */
  valid: boolean;
  /** The last score (NaN before the first scored frame). */
  score: number;
  /** The last threshold (NaN before the first scored frame). */
  threshold: number;
  frameId: string;
  /** The profile version that scored the last frame (0 before the first). */
  profileVersion: number;
  /** Results received (scored or not). */
  framesSeen: number;
  /** Frames scored. */
  framesScored: number;
  /** Frames scored anomalous. */
  framesAnomalous: number;
  /** Results without a verdict. */
  framesFailed: number;
  /** When the last result arrived here; null before the first. */
  lastResultAt: Date | null;
  /** Why the last frame was not scored; "" when it was. */
  lastError: string;
  /** Set by an operator or PLC acknowledging the last anomaly; cleared by the next anomalous verdict. */
  acknowledged: boolean;
}

/**
 * A station's state before any result.
 *
 * @param station the station id
 * @returns the initial state: not anomalous, not valid, counters at zero
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { emptyStationState } from "./station_state.ts";
 * strictEqual(emptyStationState("line-1").framesScored, 0);
 * ```
 */
export function emptyStationState(station: string): StationState {
  return {
    station,
    anomalous: false,
    valid: false,
    score: NaN,
    threshold: NaN,
    frameId: "",
    profileVersion: 0,
    framesSeen: 0,
    framesScored: 0,
    framesAnomalous: 0,
    framesFailed: 0,
    lastResultAt: null,
    lastError: "",
    acknowledged: true,
  };
}

/**
 * Folds one result into a station's state, in place.
 *
 * @param state the station's state
 * @param r a result of that station
 * @param now when it arrived
 *
 * @example A defective frame, then an unscored one
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { applyResult, emptyStationState } from "./station_state.ts";
 *
 * const s = emptyStationState("line-1");
 * const base = { station: "line-1", capturedAt: null, receivedAt: "", scoredAt: "", textScore: null,
 *   patchScore: null, model: { id: "m", hash: "h" }, latencyMs: 5 };
 * applyResult(s, { ...base, frameId: "f1", score: 3.2, threshold: 2, anomalous: true, profileVersion: 4 });
 * strictEqual(s.anomalous && s.valid && s.framesAnomalous === 1, true);
 * applyResult(s, { ...base, frameId: "f2", score: null, threshold: null, anomalous: null,
 *   profileVersion: null, error: "Frame is empty" });
 * strictEqual(s.anomalous && !s.valid && s.framesFailed === 1, true);
 * ```
 */
export function applyResult(state: StationState, r: ResultMessage, now: Date = new Date()): void {
  state.framesSeen++;
  state.frameId = r.frameId;
  state.lastResultAt = now;
  if (r.score === null || r.anomalous === null || r.error !== undefined) {
    state.valid = false;
    state.anomalous = true;
    state.framesFailed++;
    state.lastError = r.error ?? "not scored";
    return;
  }
  state.valid = true;
  state.anomalous = r.anomalous;
  state.score = r.score;
  state.threshold = r.threshold ?? NaN;
  state.profileVersion = r.profileVersion ?? 0;
  state.framesScored++;
  state.lastError = "";
  if (r.anomalous) {
    state.framesAnomalous++;
    state.acknowledged = false;
  }
}
