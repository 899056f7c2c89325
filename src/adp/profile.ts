/**
 * Station profiles: everything enrollment learned for one station, in one versioned file. The
 * tensors (concepts, prototypes, patch memory) are a safetensors file; the rest is JSON in its
 * `__metadata__` under `adp.profile`. A profile is data, never code: every field is validated on
 * load, and a file that is truncated, foreign, from a newer format or inconsistent is refused with a
 * ProfileError naming the file and the problem. Writes are atomic (temporary file, fsync, rename),
 * so a crash never leaves half a profile where the previous one was.
 *
 * @module
 */
import { openSafetensors, writeSafetensors } from "../clip/mod.ts";
import { ProcessorError, ProfileError } from "../errors.ts";
import { type Fields, Guard } from "../guard.ts";
import { type Precision, PRECISIONS } from "../model/mod.ts";
import { SYNTH_MODES, type SynthMode } from "./synth/mod.ts";
import {
  type ImageScoreRule,
  loadBackboneConfig,
  type PatchExtractorSpec,
  type View,
  VIEWS,
} from "./patch/mod.ts";
import { checkRoi, type RegionOfInterest } from "./roi.ts";

/** Marks a safetensors file as a station profile. */
export const PROFILE_FORMAT = "adp-station-profile";
/**
 * The newest profile format this build reads and the one it writes. Format 2 added the patch
 * branch's test views, self-reference radius and the ONNX extractor's resize, filter and intensity;
 * a format-1 file reads as what it was: identity view, no self-reference, raw intensity. Format 3
 * added the patch branch's edge excess; an older file reads with none. Format 4 records the ONNX
 * extractor's neighbourhood pool, which was 3 before.
 */
export const PROFILE_FORMAT_VERSION = 4;
const META_KEY = "adp.profile";

/** The patch branch's settings, and the memory's shape enrollment measured. */
export interface PatchSpec {
  /** How patch features are extracted. */
  extractor: PatchExtractorSpec;
  /** Width of a patch vector. */
  dim: number;
  /** Patch-grid rows of a frame. */
  gridH: number;
  /** Patch-grid columns of a frame. */
  gridW: number;
  /** Patches in the memory bank. */
  count: number;
  /** Symmetries of the normal images added to the memory (tiles, for one, look the same rotated). */
  views: View[];
  /** Views each frame is scored through, their distance grids averaged. */
  testViews: View[];
  /** Self-reference radius in grid cells (a patch vouched for by its own frame beyond it); null: off. */
  selfRadius: number | null;
  /** How patch distances become an image score. */
  imageScore: ImageScoreRule;
  /** The good parts' usual excess distance per ring of cells at the grid's edge, outermost first. */
  edgeExcess: number[];
  /** Gaussian smoothing of the anomaly map, in patch-grid cells (0.75: 12 px at 224 px on a 14×14 grid). */
  sigma: number;
}

/** How the branch scores are combined; see fusion.ts. */
export interface FusionSpec {
  /** Mean patch score of the held-out normals. */
  patchMean: number;
  /** Their patch scores' spread (floored). */
  patchStd: number;
  /** Mean text score of the held-out normals. */
  textMean: number;
  /** Their text scores' spread (floored). */
  textStd: number;
  /** Weight of the standardised text score (the patch score's is 1 − textWeight). */
  textWeight: number;
}

/** What the threshold was derived from. */
export interface CalibrationSpec {
  /** The rule the threshold came from, in words. */
  method: string;
  /**
   * Fused scores of unseen goods as calibration predicts them (calibration.ts): each shot's
   * leave-one-out score carried along the memory curve to K shots, or with one shot, each of its
   * views against a memory of its other views.
   */
  normalScores: number[];
  /** Fused scores of held-out pseudo-anomalies. */
  pseudoAnomalyScores: number[];
  /**
   * The operating point: the share of good parts the threshold is placed to reject (calibration.ts).
   * Absent in profiles calibrated before it was stated.
   */
  targetFalseRejectRate?: number;
  /** How unseen goods' patch scores shrink with the memory: score ∝ shots^exponent near K (K ≥ 2). */
  memoryExponent?: number | null;
  /** The text branch's admission test: its AUROC gain over the patch branch, p-value, verdict. */
  textAdmission?: { admitted: boolean; gain: number; pValue: number; reason: string };
  /** What operators said about scored frames, and how it moved the threshold (feedback.ts). */
  feedback?: FeedbackRecord;
}

/** A frame an operator labelled: its branch scores against the memory as it was then. */
export interface LabelledFrame {
  /** The frame's id on the bus. */
  frameId: string;
  /** What the operator said the part is. */
  label: "good" | "defect";
  /** The patch branch's image score against the memory before the label was applied. */
  patch: number;
  /** The text branch's P(anomalous). */
  text: number;
  /** Parts (shots and fed goods) the memory held when the frame was scored. */
  parts: number;
  /** When the label was applied (ISO 8601). */
  at: string;
}

/** The feedback a profile has learned from (feedback.ts says how it is used). */
export interface FeedbackRecord {
  /** The threshold calibrated from the shots alone (fused units): feedback never moves it higher. */
  shotThreshold: number;
  /** Parts in the memory at enrollment (the shots K). */
  shotParts: number;
  /** Frames labelled good whose patches the memory holds beyond the shots', oldest first. */
  memoryFrames: string[];
  /** Labelled frames, oldest first (bounded). */
  examples: LabelledFrame[];
  /** The rule the threshold came from, in words. */
  rule: string;
}

/** How the profile was made, for reproduction and audit. */
export interface EnrollmentSpec {
  /** Good parts enrolled on (K). */
  shots: number;
  /** The seed everything random followed. */
  seed: number;
  /** Adam steps per concept. */
  steps: number;
  /** Adam's learning rate. */
  learningRate: number;
  /** Weight α of the normality term (eq. 3–4). */
  alpha: number;
  /** Weight λ of the alignment term. */
  lambda: number;
  /** Margin γ of the anomaly term (eq. 4). */
  gamma: number;
  /** Prompts drawn from each set per step. */
  promptsPerStep: number;
  /** Pseudo-anomalies synthesised for training, and as many again for validation. */
  pseudoAnomalies: number;
  /**
   * The synthesizer that made them (what ran: `sd` asked for without weights records `procedural`);
   * absent in profiles made before Stable Diffusion could be used, which were all procedural.
   */
  synthesizer?: SynthMode;
  /** sha256 of each normal image's bytes. */
  imageSha256: string[];
  /** How long enrollment took. */
  durationMs: number;
  /** Loss per step of the normal-aware and anomaly-aware concepts. */
  losses: { normal: number[]; anomaly: number[] };
}

/** What made a profile version, recorded in it so the station's history can say who changed what. */
export interface ProfileRevision {
  /** The kind of change that produced this version. */
  kind: "enrollment" | "threshold" | "feedback" | "rollback" | "import" | "roi";
  /** When (ISO 8601). */
  at: string;
  /** Who asked: a NATS user, an operator's login, a PLC's name; absent when unknown. */
  by?: string;
  /**
   * The version this one was made from (the profile a threshold change or feedback was applied to).
   * A rollback makes no new version: the service records it in the station's history instead.
   */
  fromVersion?: number;
  /** Feedback: the frame an operator labelled, and the label. */
  frameId?: string;
  /** Feedback: what the operator said the part is. */
  label?: "good" | "defect";
  /** Free text from whoever made the change. */
  note?: string;
}

/** The kinds of {@linkcode ProfileRevision}. */
export const REVISION_KINDS = ["enrollment", "threshold", "feedback", "rollback", "import", "roi"] as const;

/** The JSON part of a profile. */
export interface ProfileMeta {
  /** The profile file format ({@linkcode PROFILE_FORMAT_VERSION} once loaded). */
  formatVersion: number;
  /** The station's profile version: 1 for its first enrollment, +1 for each one after. */
  version: number;
  /** When enrollment finished (ISO 8601). */
  createdAt: string;
  /** The station enrolled. */
  station?: string;
  /** The part's name, when its prompts joined self-tuning. */
  label?: string;
  /**
   * The CLIP model enrolled with: its folder's name, checkpoint sha256, embedding and text widths,
   * and the precision of the vision graph the memory was built with (absent before it was recorded).
   */
  model: { id: string; hash: string; embedDim: number; width: number; precision?: Precision };
  /** The patch branch. */
  patch: PatchSpec;
  /** Self-tuning weights w(c) and each candidate's AUROC on the pseudo-validation set. */
  selfTuning: { weights: Record<string, number>; aurocs: Record<string, number> };
  /** How the branch scores are combined. */
  fusion: FusionSpec;
  /** The decision threshold on fused scores. */
  threshold: number;
  /** What the threshold was derived from. */
  calibration: CalibrationSpec;
  /** How the profile was made. */
  enrollment: EnrollmentSpec;
  /** What produced this version (absent in profiles written before revisions were recorded). */
  revision?: ProfileRevision;
  /**
   * The inspected area of the frames (roi.ts); absent: the whole frame. The calibration is not
   * redone when it is set: a region only ever lowers a frame's score (scorer.ts).
   */
  roi?: RegionOfInterest;
}

/** A complete station profile. */
export interface StationProfile {
  /** Everything but the tensors. */
  meta: ProfileMeta;
  /** c_n*, c_a* [width]. */
  concepts: { normal: Float32Array; anomaly: Float32Array };
  /** p_n, p_a [embed], unit norm. */
  prototypes: { normal: Float32Array; anomaly: Float32Array };
  /** Patch memory bank [patch.count, patch.dim], unit-norm rows. */
  memory: Float32Array;
}

/** Writes `profile` to `path` atomically (the previous file stays intact until the rename). */
export async function saveProfile(path: string, profile: StationProfile): Promise<void> {
  validateProfile(profile, path);
  const meta = { format: PROFILE_FORMAT, ...profile.meta };
  const vector = (name: string, data: Float32Array) => ({
    name,
    shape: [data.length],
    dtype: "F32" as const,
    data,
  });
  await writeSafetensors(path, [
    vector("concept.normal", profile.concepts.normal),
    vector("concept.anomaly", profile.concepts.anomaly),
    vector("prototype.normal", profile.prototypes.normal),
    vector("prototype.anomaly", profile.prototypes.anomaly),
    {
      name: "memory",
      shape: [profile.meta.patch.count, profile.meta.patch.dim],
      dtype: "F32",
      data: profile.memory,
    },
  ], { metadata: { [META_KEY]: JSON.stringify(meta) } });
}

/**
 * Reads and validates a profile.
 *
 * @throws {ProfileError} when the file is not a complete, valid profile this build can read
 */
export async function loadProfile(path: string): Promise<StationProfile> {
  let reader;
  try {
    reader = await openSafetensors(path);
  } catch (error) {
    // A missing file is the OS's answer, not a bad profile: callers tell the two apart.
    const os = error instanceof ProcessorError ? error.cause : error;
    if (os instanceof Deno.errors.NotFound) throw os;
    const why = error instanceof ProcessorError ? error.message : String(error);
    throw new ProfileError(`Profile ${path} is not a readable profile file: ${why}`, {
      file: path,
      cause: error,
    });
  }
  try {
    const raw = reader.metadata[META_KEY];
    if (raw === undefined) {
      throw new ProfileError(`Profile ${path} is not an ADP station profile: no ${META_KEY} metadata`, {
        file: path,
      });
    }
    const guard = profileGuard(path);
    const meta = guard.object(guard.parseJson(raw, `its ${META_KEY} metadata`), "metadata");
    if (meta.format !== PROFILE_FORMAT) {
      throw new ProfileError(
        `Profile ${path} is not an ADP station profile: format is ${JSON.stringify(meta.format)}`,
        { file: path },
      );
    }
    const version = guard.integer(meta.formatVersion, "formatVersion", { min: 1 });
    if (version > PROFILE_FORMAT_VERSION) {
      throw new ProfileError(
        `Profile ${path} was written by a newer ADP Edge (format ${version}; this build reads up to ${PROFILE_FORMAT_VERSION}): upgrade before loading it`,
        { file: path },
      );
    }
    delete meta.format;
    if (version < PROFILE_FORMAT_VERSION) await migrateMeta(meta, path);
    const read = async (name: string) => {
      if (!reader!.header.has(name)) {
        throw new ProfileError(`Profile ${path} lacks tensor ${name}`, { file: path });
      }
      return (await reader!.read(name)).data;
    };
    const profile: StationProfile = {
      meta: meta as unknown as ProfileMeta,
      concepts: { normal: await read("concept.normal"), anomaly: await read("concept.anomaly") },
      prototypes: { normal: await read("prototype.normal"), anomaly: await read("prototype.anomaly") },
      memory: await read("memory"),
    };
    validateProfile(profile, path);
    return profile;
  } catch (error) {
    if (error instanceof ProfileError) throw error;
    throw new ProfileError(`Profile ${path} is corrupt: ${(error as Error).message}`, {
      file: path,
      cause: error,
    });
  } finally {
    reader.close();
  }
}

/** The guard of a profile's metadata: its refusals are ProfileErrors naming the file. */
function profileGuard(file: string): Guard {
  return new Guard((message, options) =>
    new ProfileError(`Profile ${file} is invalid: ${message}`, { file, ...options })
  );
}

/**
 * Checks every field's type and the tensors' consistency with the metadata.
 *
 * @throws {ProfileError} naming the file and the first field that is wrong
 */
export function validateProfile(profile: StationProfile, file: string): void {
  const guard = profileGuard(file);
  const m = guard.object(profile.meta, "metadata");
  refusePrototypeKeys(guard, m, "");
  guard.integer(m.formatVersion, "formatVersion", { min: 1 });
  guard.integer(m.version, "version", { min: 1 });
  guard.string(m.createdAt, "createdAt");
  if (m.station !== undefined) guard.string(m.station, "station");
  if (m.label !== undefined) guard.string(m.label, "label");
  const model = guard.object(m.model, "model");
  guard.string(model.id, "model.id");
  guard.string(model.hash, "model.hash");
  if (model.precision !== undefined) guard.oneOf(model.precision, "model.precision", PRECISIONS);
  const embed = guard.integer(model.embedDim, "model.embedDim", { min: 1 });
  const width = guard.integer(model.width, "model.width", { min: 1 });
  const patch = checkPatchSpec(guard, m.patch);
  checkScoring(guard, m);
  checkEnrollmentSpec(guard, m.enrollment);
  if (m.revision !== undefined) checkRevision(guard, m.revision);
  if (m.roi !== undefined) checkRoi(guard, m.roi, "roi");

  const expect = (t: Float32Array, n: number, name: string) => {
    if (!(t instanceof Float32Array) || t.length !== n) {
      throw guard.error(`${name} has ${t?.length} values, expected ${n}`);
    }
    if (!t.every(Number.isFinite)) throw guard.error(`${name} holds non-finite values`);
  };
  expect(profile.concepts.normal, width, "concept.normal");
  expect(profile.concepts.anomaly, width, "concept.anomaly");
  expect(profile.prototypes.normal, embed, "prototype.normal");
  expect(profile.prototypes.anomaly, embed, "prototype.anomaly");
  expect(profile.memory, patch.count * patch.dim, "memory");
}

/** Checks `revision` (a {@linkcode ProfileRevision}). */
function checkRevision(guard: Guard, v: unknown): void {
  const r = guard.object(v, "revision");
  guard.oneOf(r.kind, "revision.kind", REVISION_KINDS);
  guard.string(r.at, "revision.at");
  if (r.by !== undefined) guard.string(r.by, "revision.by", { max: 256 });
  if (r.fromVersion !== undefined) guard.integer(r.fromVersion, "revision.fromVersion", { min: 1 });
  if (r.frameId !== undefined) guard.string(r.frameId, "revision.frameId", { max: 256 });
  if (r.label !== undefined) guard.oneOf(r.label, "revision.label", ["good", "defect"]);
  if (r.note !== undefined) guard.string(r.note, "revision.note", { max: 1024 });
}

/** Metadata is data: a key that JavaScript treats as an object's prototype has no place in it. */
function refusePrototypeKeys(guard: Guard, v: unknown, at: string): void {
  if (!v || typeof v !== "object") return;
  for (const [key, value] of Object.entries(v)) {
    if (key === "__proto__") throw guard.error(`metadata holds a "__proto__" key${at ? ` in ${at}` : ""}`);
    refusePrototypeKeys(guard, value, at ? `${at}.${key}` : key);
  }
}

/** Checks `patch` (a {@linkcode PatchSpec}); returns the memory's shape for the tensor check. */
function checkPatchSpec(guard: Guard, v: unknown): { dim: number; count: number } {
  const patch = guard.object(v, "patch");
  const extractor = guard.object(patch.extractor, "patch.extractor");
  const kind = guard.oneOf(extractor.kind, "patch.extractor.kind", ["clip", "onnx"]);
  if (kind === "clip") guard.numbers(extractor.blocks, "patch.extractor.blocks");
  else {
    guard.string(extractor.config, "patch.extractor.config");
    guard.string(extractor.sha256, "patch.extractor.sha256");
    guard.strings(extractor.layers, "patch.extractor.layers");
    guard.integer(extractor.inputSize, "patch.extractor.inputSize", { min: 1 });
    guard.oneOf(extractor.resize, "patch.extractor.resize", ["whole", "crop"]);
    guard.oneOf(extractor.interpolation, "patch.extractor.interpolation", ["bilinear", "bicubic"]);
    guard.oneOf(extractor.intensity, "patch.extractor.intensity", ["raw", "standardise", "auto"]);
    const pool = guard.integer(extractor.pool, "patch.extractor.pool", { min: 1 });
    if (pool % 2 === 0) guard.reject("patch.extractor.pool", "an odd number of cells", pool);
    if (extractor.precision !== undefined) {
      guard.oneOf(extractor.precision, "patch.extractor.precision", ["int8"]);
    }
  }
  const dim = guard.integer(patch.dim, "patch.dim", { min: 1 });
  guard.integer(patch.gridH, "patch.gridH", { min: 1 });
  guard.integer(patch.gridW, "patch.gridW", { min: 1 });
  const count = guard.integer(patch.count, "patch.count", { min: 1 });
  for (const key of ["views", "testViews"]) {
    const views = patch[key];
    if (!Array.isArray(views) || views.length === 0 || !views.every((v) => VIEWS.includes(v))) {
      guard.reject(`patch.${key}`, `a non-empty list of views (${VIEWS.join(", ")})`, views);
    }
  }
  if (patch.selfRadius !== null) guard.integer(patch.selfRadius, "patch.selfRadius", { min: 0 });
  const rule = guard.object(patch.imageScore, "patch.imageScore");
  const ruleKind = guard.oneOf(rule.kind, "patch.imageScore.kind", ["max", "topMean"]);
  if (ruleKind === "topMean") guard.integer(rule.count, "patch.imageScore.count", { min: 1 });
  guard.numbers(patch.edgeExcess, "patch.edgeExcess");
  guard.number(patch.sigma, "patch.sigma", { min: 0 });
  return { dim, count };
}

/** Checks self-tuning, fusion, threshold and calibration: everything a frame's verdict reads. */
function checkScoring(guard: Guard, m: Fields): void {
  const selfTuning = guard.object(m.selfTuning, "selfTuning");
  for (const name of ["weights", "aurocs"]) {
    const record = guard.object(selfTuning[name], `selfTuning.${name}`);
    for (const [key, x] of Object.entries(record)) guard.number(x, `selfTuning.${name}.${key}`);
  }
  const fusion = guard.object(m.fusion, "fusion");
  for (const k of ["patchMean", "textMean"]) guard.number(fusion[k], `fusion.${k}`);
  for (const k of ["patchStd", "textStd"]) guard.number(fusion[k], `fusion.${k}`, { min: 0 });
  guard.number(fusion.textWeight, "fusion.textWeight", { min: 0 });
  guard.number(m.threshold, "threshold");
  checkCalibrationSpec(guard, m.calibration);
}

/** Checks `calibration` (a {@linkcode CalibrationSpec}); its newer fields are optional. */
function checkCalibrationSpec(guard: Guard, v: unknown): void {
  const calibration = guard.object(v, "calibration");
  guard.string(calibration.method, "calibration.method");
  guard.numbers(calibration.normalScores, "calibration.normalScores");
  guard.numbers(calibration.pseudoAnomalyScores, "calibration.pseudoAnomalyScores");
  const rate = calibration.targetFalseRejectRate;
  if (rate !== undefined && !(typeof rate === "number" && rate > 0 && rate < 0.5)) {
    guard.reject("calibration.targetFalseRejectRate", "a rate in (0, 0.5)", rate);
  }
  if (calibration.memoryExponent !== undefined && calibration.memoryExponent !== null) {
    guard.number(calibration.memoryExponent, "calibration.memoryExponent");
  }
  if (calibration.textAdmission !== undefined) {
    const t = guard.object(calibration.textAdmission, "calibration.textAdmission");
    guard.boolean(t.admitted, "calibration.textAdmission.admitted");
    guard.number(t.gain, "calibration.textAdmission.gain");
    guard.number(t.pValue, "calibration.textAdmission.pValue", { min: 0 });
    guard.string(t.reason, "calibration.textAdmission.reason");
  }
  if (calibration.feedback !== undefined) checkFeedback(guard, calibration.feedback);
}

/** Checks `calibration.feedback` (a {@linkcode FeedbackRecord}). */
function checkFeedback(guard: Guard, v: unknown): void {
  const f = guard.object(v, "calibration.feedback");
  guard.number(f.shotThreshold, "calibration.feedback.shotThreshold");
  guard.integer(f.shotParts, "calibration.feedback.shotParts", { min: 1 });
  guard.strings(f.memoryFrames, "calibration.feedback.memoryFrames");
  guard.string(f.rule, "calibration.feedback.rule");
  if (!Array.isArray(f.examples)) guard.reject("calibration.feedback.examples", "a list", f.examples);
  (f.examples as unknown[]).forEach((x, i) => {
    const at = `calibration.feedback.examples[${i}]`;
    const e = guard.object(x, at);
    guard.string(e.frameId, `${at}.frameId`, { max: 256 });
    guard.oneOf(e.label, `${at}.label`, ["good", "defect"]);
    guard.number(e.patch, `${at}.patch`);
    guard.number(e.text, `${at}.text`);
    guard.integer(e.parts, `${at}.parts`, { min: 1 });
    guard.string(e.at, `${at}.at`);
  });
}

/** Checks `enrollment` (an {@linkcode EnrollmentSpec}). */
function checkEnrollmentSpec(guard: Guard, v: unknown): void {
  const enrollment = guard.object(v, "enrollment");
  for (const k of ["shots", "seed", "steps", "promptsPerStep", "pseudoAnomalies"]) {
    guard.integer(enrollment[k], `enrollment.${k}`, { min: 0 });
  }
  for (const k of ["learningRate", "alpha", "lambda", "gamma", "durationMs"]) {
    guard.number(enrollment[k], `enrollment.${k}`);
  }
  if (!Array.isArray(enrollment.imageSha256)) {
    guard.reject("enrollment.imageSha256", "a list", enrollment.imageSha256);
  }
  if (
    enrollment.synthesizer !== undefined &&
    !(SYNTH_MODES as readonly unknown[]).includes(enrollment.synthesizer)
  ) {
    guard.reject("enrollment.synthesizer", `one of ${SYNTH_MODES.join(", ")}`, enrollment.synthesizer);
  }
  const losses = guard.object(enrollment.losses, "enrollment.losses");
  guard.numbers(losses.normal, "enrollment.losses.normal");
  guard.numbers(losses.anomaly, "enrollment.losses.anomaly");
}

/**
 * Brings older metadata to the current format: the patch branch as it then scored (format 1:
 * identity view, no self-reference, raw intensity; formats 1–2: no edge excess; formats 1–3: an
 * ONNX extractor's 3×3 pool), and an ONNX backbone's resize and filter from its description, which
 * format 1 read at scoring time.
 */
async function migrateMeta(meta: Record<string, unknown>, path: string): Promise<void> {
  const patch = meta.patch as Record<string, unknown> | undefined;
  if (!patch || typeof patch !== "object") return; // validation names what is missing
  patch.testViews ??= ["identity"];
  patch.selfRadius ??= null;
  patch.edgeExcess ??= [];
  const extractor = patch.extractor as Record<string, unknown> | undefined;
  if (extractor?.kind === "onnx" && typeof extractor.config === "string") {
    extractor.intensity ??= "raw";
    extractor.pool ??= 3;
    if (extractor.resize === undefined || extractor.interpolation === undefined) {
      let config;
      try {
        config = await loadBackboneConfig(extractor.config);
      } catch (error) {
        throw new ProfileError(
          `Profile ${path} (format 1) needs its backbone description to be read: ${(error as Error).message}`,
          { file: path, cause: error },
        );
      }
      extractor.resize ??= config.resize;
      extractor.interpolation ??= config.interpolation;
    }
  }
  meta.formatVersion = PROFILE_FORMAT_VERSION;
}
