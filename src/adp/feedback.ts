/**
 * Operator feedback that teaches a station: pure functions from a profile and a labelled frame to
 * the next profile version. The service (src/stream/feedback.ts) and `adp eval --feedback` apply
 * the same functions.
 *
 * **Good.** A part the operator calls good joins the normal set: its patch features in every memory
 * view are appended to the memory, and the calibration is redone with it as a genuinely unseen good
 * part — its score against the memory *before* it joined is exactly the evidence the shots can only
 * predict (calibration.ts). No concept is relearned. The memory holds at most
 * {@linkcode FEEDBACK_DEFAULTS}`.maxMemoryFrames` fed parts beyond the shots: the oldest fed part
 * leaves first (its score stays as evidence); the shots never leave.
 *
 * **Defect.** A part the operator calls a defect is kept as a labelled example (its branch scores);
 * the memory is untouched.
 *
 * **The threshold** (in the model of calibration.ts: log patch scores, every score carried along the
 * memory curve, score ∝ parts^b, to the memory in force):
 * 1. The goods' threshold: calibration.ts's rule ({@linkcode patchThreshold}) on the shots'
 *    unseen-good predictions and the fed goods' measured scores together.
 * 2. Once there are `minDefects` confirmed defects and `minGoods` known good parts (shots count, one
 *    each), the defects may lower it: to the equal-error point between goods and defects (each
 *    class log-normal, spreads shrunk toward the prior), and never above the lowest confirmed
 *    defect.
 * 3. The safeguard: the result stays within [floor, ceiling]. The floor is the known goods'
 *    estimated (1 − maxFalseRejectRate) point (5%: the most good parts feedback may make the station
 *    reject); the ceiling is the threshold calibrated from the shots, carried to the memory in
 *    force. Defect labels only lower the threshold and good labels only enter the goods' estimate,
 *    so a burst of mislabelled defects cannot take it below the goods' 95% point, and a burst of
 *    mislabelled goods cannot lift it above the shots' own calibration.
 *    A threshold set by hand since the last label takes the shots' calibration's place as the ceiling.
 *
 * With the text branch in the fused score (text weight > 0) the same rules run on fused scores,
 * normal with the prior spread of calibration.ts, not carried (the text score does not follow the
 * memory).
 *
 * @module
 */
import {
  CALIBRATION_DEFAULTS,
  normalQuantile,
  patchThreshold,
  type ThresholdOptions,
  tQuantile,
} from "./calibration.ts";
import { fuseScores } from "./fusion.ts";
import type { FeedbackRecord, LabelledFrame, ProfileMeta, StationProfile } from "./profile.ts";

/** The bounds and counts of feedback, and why. */
export const FEEDBACK_DEFAULTS = {
  /** Fed good parts the memory holds beyond the shots (16 more parts: ≤ 5× a K = 4 memory). */
  maxMemoryFrames: 16,
  /** Labelled frames kept in the profile; the oldest go first. */
  maxExamples: 256,
  /** Confirmed defects before they move the threshold: fewer say little about where defects begin. */
  minDefects: 3,
  /** Known good parts (shots and fed goods) before defects move the threshold. */
  minGoods: 3,
  /** The most good parts (the known goods' estimate) feedback may make the station reject. */
  maxFalseRejectRate: 0.05,
};

/** Options of the feedback functions. */
export type FeedbackOptions = Partial<typeof FEEDBACK_DEFAULTS>;

/** A frame labelled by an operator, as the scorer saw it against the profile in force. */
export interface FeedbackFrame {
  /** The frame's id. */
  frameId: string;
  /** The patch branch's image score. */
  patch: number;
  /** The text branch's P(anomalous). */
  text: number;
  /** Good frames: its patch features in every memory view, `[views·gridH·gridW, dim]`. */
  features?: Float32Array;
}

/** Who labelled, when, and why. */
export interface FeedbackSource {
  /** When (ISO 8601). */
  at: string;
  /** Who: an operator's login, a PLC's name. */
  by?: string;
  /** Free text. */
  note?: string;
}

/** The threshold feedback places, and its bounds. */
export interface FeedbackThreshold {
  /** The threshold in fused units. */
  threshold: number;
  /** The safeguard's floor: the known goods' estimated (1 − maxFalseRejectRate) point, fused units. */
  floor: number;
  /** The safeguard's ceiling: the shots' calibrated threshold carried to the memory, fused units. */
  ceiling: number;
  /** The rule that decided, in words. */
  rule: string;
}

/**
 * The next profile version after an operator's label: version + 1, the revision recorded, the
 * memory grown (good) and the threshold placed by {@linkcode feedbackThreshold}.
 *
 * @throws {RangeError} when a good frame's features do not fit the memory's rows
 */
export function applyFeedback(
  profile: StationProfile,
  label: "good" | "defect",
  frame: FeedbackFrame,
  source: FeedbackSource,
  opts: FeedbackOptions = {},
): StationProfile {
  const o = { ...FEEDBACK_DEFAULTS, ...opts };
  const { meta } = profile;
  const before = rebased(meta, o);
  const example: LabelledFrame = {
    frameId: frame.frameId,
    label,
    patch: frame.patch,
    text: frame.text,
    parts: before.shotParts + before.memoryFrames.length,
    at: source.at,
  };
  let memory = profile.memory, memoryFrames = before.memoryFrames, count = meta.patch.count;
  if (label === "good") {
    const rows = partRows(meta);
    const features = frame.features;
    if (!features || features.length !== rows * meta.patch.dim) {
      throw new RangeError(
        `A good frame needs ${rows} patch rows of ${meta.patch.dim} values: got ${
          features?.length ?? 0
        } values`,
      );
    }
    if (memory.length !== (before.shotParts + memoryFrames.length) * rows * meta.patch.dim) {
      throw new RangeError(`The memory's ${count} rows are not whole parts of ${rows} rows`);
    }
    const drop = memoryFrames.length + 1 > o.maxMemoryFrames ? 1 : 0;
    const keepFrom = before.shotParts * rows, dropEnd = keepFrom + drop * rows;
    const grown = new Float32Array(memory.length - drop * rows * meta.patch.dim + features.length);
    grown.set(memory.subarray(0, keepFrom * meta.patch.dim));
    grown.set(memory.subarray(dropEnd * meta.patch.dim), keepFrom * meta.patch.dim);
    grown.set(features, grown.length - features.length);
    memory = grown;
    memoryFrames = [...memoryFrames.slice(drop), frame.frameId];
    count = grown.length / meta.patch.dim;
  }
  const record: FeedbackRecord = {
    ...before,
    memoryFrames,
    examples: [...before.examples, example].slice(-o.maxExamples),
  };
  const next: ProfileMeta = {
    ...meta,
    version: meta.version + 1,
    patch: { ...meta.patch, count },
    calibration: { ...meta.calibration, feedback: record },
    revision: {
      kind: "feedback",
      at: source.at,
      ...(source.by !== undefined ? { by: source.by } : {}),
      fromVersion: meta.version,
      frameId: frame.frameId,
      label,
      ...(source.note !== undefined ? { note: source.note } : {}),
    },
  };
  const placed = feedbackThreshold(next, o);
  next.threshold = placed.threshold;
  record.rule = placed.rule;
  return { ...profile, meta: next, memory };
}

/** Memory rows one part adds: every memory view of its patch grid. */
export function partRows(meta: ProfileMeta): number {
  return meta.patch.views.length * meta.patch.gridH * meta.patch.gridW;
}

/** The profile's feedback record, or a fresh one from its shot calibration. */
function feedbackOf(meta: ProfileMeta): FeedbackRecord {
  return meta.calibration.feedback ?? {
    shotThreshold: meta.threshold,
    shotParts: meta.enrollment.shots,
    memoryFrames: [],
    examples: [],
    rule: "",
  };
}

/**
 * The record, with a threshold set by hand since the last label (`adp threshold set`) taking the
 * shots' calibration's place as the ceiling: feedback never undoes an operator's setting upward.
 */
function rebased(meta: ProfileMeta, o: FeedbackOptions): FeedbackRecord {
  const record = feedbackOf(meta);
  const placed = feedbackThreshold(meta, o).threshold;
  if (Math.abs(placed - meta.threshold) <= 1e-9 * (1 + Math.abs(placed))) return record;
  const space = spaceOf(meta, record.shotParts + record.memoryFrames.length);
  // The ceiling is the record's threshold carried to the memory in force: carry the hand-set one back.
  const x = space.ofFused(meta.threshold) - space.carry(0, record.shotParts);
  return { ...record, shotThreshold: space.toFused(x) };
}

/** Where the scores live for the threshold: log patch scores, or fused scores with the text branch in. */
interface Space {
  /** A frame's branch scores to the model's scale. */
  of(s: { patch: number; text: number }): number;
  /** A fused score to the model's scale (the shot calibration's scores). */
  ofFused(f: number): number;
  /** The model's scale back to a fused threshold. */
  toFused(x: number): number;
  /** A value measured against `from` parts, carried to the memory in force. */
  carry(x: number, from: number): number;
  /** The prior spread on this scale. */
  prior: number;
}

function spaceOf(meta: ProfileMeta, parts: number): Space {
  const f = meta.fusion;
  const b = meta.calibration.memoryExponent ?? CALIBRATION_DEFAULTS.priorExponent;
  if (f.textWeight > 0) {
    return {
      of: (s) => fuseScores(s, f),
      ofFused: (x) => x,
      toFused: (x) => x,
      carry: (x) => x,
      prior: 1,
    };
  }
  const log = (p: number) => Math.log(Math.max(p, 1e-6));
  return {
    of: (s) => log(s.patch),
    ofFused: (x) => log(x * f.patchStd + f.patchMean),
    toFused: (x) => (Math.exp(x) - f.patchMean) / f.patchStd,
    carry: (x, from) => x + b * Math.log(parts / from),
    prior: CALIBRATION_DEFAULTS.priorLogSpread,
  };
}

/** Mean and spread shrunk toward the prior with calibration.ts's weight (prior × √2 for one value). */
function shrunk(xs: readonly number[], prior: number): { mean: number; spread: number; n: number } {
  const n = xs.length, mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, spread: prior * Math.SQRT2, n };
  const w = CALIBRATION_DEFAULTS.priorWeight;
  const ss = xs.reduce((a, x) => a + (x - mean) ** 2, 0);
  return { mean, spread: Math.sqrt((w * prior ** 2 + ss) / (w + n - 1)), n };
}

/**
 * The threshold a profile's feedback places (fused units), from its record alone: what
 * {@linkcode applyFeedback} sets, and what a test predicts verdicts with. The module's comment
 * gives the rules and the safeguard.
 */
export function feedbackThreshold(meta: ProfileMeta, opts: FeedbackOptions = {}): FeedbackThreshold {
  const o = { ...FEEDBACK_DEFAULTS, ...opts };
  const record = feedbackOf(meta);
  const parts = record.shotParts + record.memoryFrames.length;
  const space = spaceOf(meta, parts);
  const cal = meta.calibration;
  // The shots' unseen-good predictions: one per shot; a single shot's views give one level (the
  // mean of their patch scores, as calibration.ts takes it), not several parts.
  const shotX = cal.normalScores.map(space.ofFused);
  const shotGoods = record.shotParts === 1 && meta.fusion.textWeight === 0 && shotX.length > 1
    ? [Math.log(mean(shotX.map(Math.exp)))]
    : shotX;
  const carried = (e: LabelledFrame) => space.carry(space.of(e), e.parts);
  const fedGoods = record.examples.filter((e) => e.label === "good").map(carried);
  const defects = record.examples.filter((e) => e.label === "defect").map(carried);
  const goods = [...shotGoods.map((x) => space.carry(x, record.shotParts)), ...fedGoods];
  const g = shrunk(goods, space.prior);
  const floor = g.mean + normalQuantile(1 - o.maxFalseRejectRate) * g.spread;
  const ceiling = space.carry(space.ofFused(record.shotThreshold), record.shotParts);
  let x = goodsThreshold(meta, space, goods, record.shotParts);
  let rule = `goods' threshold (${g.n} known good part(s))`;
  if (defects.length >= o.minDefects && g.n >= o.minGoods) {
    const d = shrunk(defects, space.prior);
    const equalError = d.mean > g.mean
      ? g.mean + (g.spread / (g.spread + d.spread)) * (d.mean - g.mean)
      : floor;
    const lowest = Math.min(...defects);
    if (Math.min(equalError, lowest) < x) {
      x = Math.min(equalError, lowest);
      rule = `placed by ${defects.length} confirmed defect(s) and ${g.n} known good part(s)`;
    }
  }
  if (x < floor) {
    x = floor;
    rule += `, held at the goods' ${100 * (1 - o.maxFalseRejectRate)}% point`;
  }
  if (x > ceiling) {
    x = ceiling;
    rule += ", held at the shots' calibration";
  }
  return {
    threshold: space.toFused(x),
    floor: space.toFused(Math.min(floor, ceiling)),
    ceiling: space.toFused(ceiling),
    rule,
  };
}

/** calibration.ts's threshold on the goods (shots' predictions and fed goods, carried), model scale. */
function goodsThreshold(
  meta: ProfileMeta,
  space: Space,
  goods: readonly number[],
  shotParts: number,
): number {
  const cal = meta.calibration;
  const options: Partial<ThresholdOptions> = cal.targetFalseRejectRate !== undefined
    ? { targetFalseRejectRate: cal.targetFalseRejectRate }
    : {};
  if (meta.fusion.textWeight > 0) {
    const o = { ...CALIBRATION_DEFAULTS, ...options };
    const n = goods.length, m = mean(goods);
    const spread = Math.sqrt(
      (o.priorWeight + goods.reduce((a, x) => a + (x - m) ** 2, 0)) / (o.priorWeight + n - 1),
    );
    return m + tQuantile(1 - o.targetFalseRejectRate, o.priorWeight + n - 1) * spread * Math.sqrt(1 + 1 / n);
  }
  const pseudo = cal.pseudoAnomalyScores.map((f) => Math.exp(space.carry(space.ofFused(f), shotParts)));
  const patch = patchThreshold(
    { scores: goods.map(Math.exp), exponent: null, measured: false },
    pseudo,
    options,
  );
  return Math.log(patch.threshold);
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
