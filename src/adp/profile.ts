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
import { type Precision, PRECISIONS } from "../model/mod.ts";
import {
  type ImageScoreRule,
  loadBackboneConfig,
  type PatchExtractorSpec,
  type View,
  VIEWS,
} from "./patch/mod.ts";

/** Marks a safetensors file as a station profile. */
export const PROFILE_FORMAT = "adp-station-profile";
/**
 * The newest profile format this build reads and the one it writes. Format 2 added the patch
 * branch's test views, self-reference radius and the ONNX extractor's resize, filter and intensity;
 * a format-1 file reads as what it was: identity view, no self-reference, raw intensity.
 */
export const PROFILE_FORMAT_VERSION = 2;
const META_KEY = "adp.profile";

/** The patch branch's settings. */
export interface PatchSpec {
  extractor: PatchExtractorSpec;
  dim: number;
  gridH: number;
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
  /** Gaussian smoothing of the anomaly map, in patch-grid cells (0.25: 4 px at 224 px on a 14×14 grid). */
  sigma: number;
}

/** How the branch scores are combined; see fusion.ts. */
export interface FusionSpec {
  patchMean: number;
  patchStd: number;
  textMean: number;
  textStd: number;
  /** Weight of the standardised text score (the patch score's is 1 − textWeight). */
  textWeight: number;
}

/** What the threshold was derived from. */
export interface CalibrationSpec {
  method: string;
  /**
   * Fused scores of held-out normals: each shot against a memory without it (leave-one-out), or
   * with one shot, each of its views against a memory of its other views.
   */
  normalScores: number[];
  /** Fused scores of held-out pseudo-anomalies. */
  pseudoAnomalyScores: number[];
}

/** How the profile was made, for reproduction and audit. */
export interface EnrollmentSpec {
  shots: number;
  seed: number;
  steps: number;
  learningRate: number;
  alpha: number;
  lambda: number;
  gamma: number;
  promptsPerStep: number;
  pseudoAnomalies: number;
  /** sha256 of each normal image's bytes. */
  imageSha256: string[];
  durationMs: number;
  /** Loss per step of the normal-aware and anomaly-aware concepts. */
  losses: { normal: number[]; anomaly: number[] };
}

/** The JSON part of a profile. */
export interface ProfileMeta {
  formatVersion: number;
  /** The station's profile version: 1 for its first enrollment, +1 for each one after. */
  version: number;
  createdAt: string;
  station?: string;
  label?: string;
  /** `precision`: of the vision graph the memory was built with; absent in profiles before it was recorded. */
  model: { id: string; hash: string; embedDim: number; width: number; precision?: Precision };
  patch: PatchSpec;
  /** Self-tuning weights w(c) and each candidate's AUROC on the pseudo-validation set. */
  selfTuning: { weights: Record<string, number>; aurocs: Record<string, number> };
  fusion: FusionSpec;
  threshold: number;
  calibration: CalibrationSpec;
  enrollment: EnrollmentSpec;
}

/** A complete station profile. */
export interface StationProfile {
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
    if (error instanceof Deno.errors.NotFound) throw error;
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
    let meta: Record<string, unknown>;
    try {
      meta = JSON.parse(raw);
    } catch (error) {
      throw new ProfileError(`Profile ${path} has malformed metadata: ${(error as Error).message}`, {
        file: path,
      });
    }
    if (meta.format !== PROFILE_FORMAT) {
      throw new ProfileError(
        `Profile ${path} is not an ADP station profile: format is ${JSON.stringify(meta.format)}`,
        { file: path },
      );
    }
    const version = meta.formatVersion;
    if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
      throw new ProfileError(`Profile ${path} has no valid format version`, { file: path });
    }
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

/** Checks every field's type and the tensors' consistency with the metadata. */
export function validateProfile(profile: StationProfile, file: string): void {
  const fail = (what: string): never => {
    throw new ProfileError(`Profile ${file} is invalid: ${what}`, { file });
  };
  const m = profile.meta as unknown as Record<string, unknown>;
  const obj = (
    v: unknown,
    name: string,
  ) => (v && typeof v === "object" && !Array.isArray(v)
    ? v as Record<string, unknown>
    : fail(`${name} is not an object`));
  const num = (
    v: unknown,
    name: string,
    min = -Infinity,
  ) => (typeof v === "number" && Number.isFinite(v) && v >= min
    ? v
    : fail(`${name} is not a finite number ≥ ${min}`));
  const int = (
    v: unknown,
    name: string,
    min = 0,
  ) => (Number.isInteger(v) && (v as number) >= min
    ? v as number
    : fail(`${name} is not an integer ≥ ${min}`));
  const str = (
    v: unknown,
    name: string,
  ) => (typeof v === "string" && v.length > 0 ? v : fail(`${name} is not a non-empty string`));
  const nums = (
    v: unknown,
    name: string,
  ) => (Array.isArray(v) && v.every((x) => typeof x === "number" && Number.isFinite(x))
    ? v
    : fail(`${name} is not a list of numbers`));
  const oneOf = (v: unknown, allowed: readonly string[], name: string) =>
    allowed.includes(v as string)
      ? v
      : fail(`${name} is ${JSON.stringify(v)}, not one of ${allowed.join(", ")}`);
  const record = (v: unknown, name: string) =>
    Object.values(obj(v, name)).forEach((x, i) => num(x, `${name}[${i}]`));

  // Metadata is data: a key that JavaScript treats as an object's prototype has no place in it.
  const noPrototypeKeys = (v: unknown, at: string): void => {
    if (!v || typeof v !== "object") return;
    for (const [key, value] of Object.entries(v)) {
      if (key === "__proto__") fail(`metadata holds a "__proto__" key${at ? ` in ${at}` : ""}`);
      noPrototypeKeys(value, at ? `${at}.${key}` : key);
    }
  };
  noPrototypeKeys(m, "");
  int(m.formatVersion, "formatVersion", 1);
  int(m.version, "version", 1);
  str(m.createdAt, "createdAt");
  if (m.station !== undefined) str(m.station, "station");
  if (m.label !== undefined) str(m.label, "label");
  const model = obj(m.model, "model");
  str(model.id, "model.id");
  str(model.hash, "model.hash");
  const embed = int(model.embedDim, "model.embedDim", 1);
  const width = int(model.width, "model.width", 1);
  if (model.precision !== undefined) oneOf(model.precision, PRECISIONS, "model.precision");
  const patch = obj(m.patch, "patch");
  const extractor = obj(patch.extractor, "patch.extractor");
  if (extractor.kind === "clip") nums(extractor.blocks, "patch.extractor.blocks");
  else if (extractor.kind === "onnx") {
    str(extractor.config, "patch.extractor.config");
    str(extractor.sha256, "patch.extractor.sha256");
    if (!Array.isArray(extractor.layers) || !extractor.layers.every((l) => typeof l === "string")) {
      fail("patch.extractor.layers is not a list of names");
    }
    int(extractor.inputSize, "patch.extractor.inputSize", 1);
    oneOf(extractor.resize, ["whole", "crop"], "patch.extractor.resize");
    oneOf(extractor.interpolation, ["bilinear", "bicubic"], "patch.extractor.interpolation");
    oneOf(extractor.intensity, ["raw", "standardise", "auto"], "patch.extractor.intensity");
  } else fail(`patch.extractor.kind ${JSON.stringify(extractor.kind)} is unknown`);
  const dim = int(patch.dim, "patch.dim", 1);
  int(patch.gridH, "patch.gridH", 1);
  int(patch.gridW, "patch.gridW", 1);
  const count = int(patch.count, "patch.count", 1);
  for (const key of ["views", "testViews"]) {
    const views = patch[key];
    if (!Array.isArray(views) || views.length === 0 || !views.every((v) => VIEWS.includes(v))) {
      fail(`patch.${key} is not a list of known views`);
    }
  }
  if (patch.selfRadius !== null) int(patch.selfRadius, "patch.selfRadius", 0);
  const rule = obj(patch.imageScore, "patch.imageScore");
  if (rule.kind === "topMean") int(rule.count, "patch.imageScore.count", 1);
  else if (rule.kind !== "max") fail(`patch.imageScore.kind ${JSON.stringify(rule.kind)} is unknown`);
  num(patch.sigma, "patch.sigma", 0);
  const selfTuning = obj(m.selfTuning, "selfTuning");
  record(selfTuning.weights, "selfTuning.weights");
  record(selfTuning.aurocs, "selfTuning.aurocs");
  const fusion = obj(m.fusion, "fusion");
  for (const k of ["patchMean", "textMean"]) num(fusion[k], `fusion.${k}`);
  for (const k of ["patchStd", "textStd"]) num(fusion[k], `fusion.${k}`, 0);
  num(fusion.textWeight, "fusion.textWeight", 0);
  num(m.threshold, "threshold");
  const calibration = obj(m.calibration, "calibration");
  str(calibration.method, "calibration.method");
  nums(calibration.normalScores, "calibration.normalScores");
  nums(calibration.pseudoAnomalyScores, "calibration.pseudoAnomalyScores");
  const enrollment = obj(m.enrollment, "enrollment");
  for (const k of ["shots", "seed", "steps", "promptsPerStep", "pseudoAnomalies"]) {
    int(enrollment[k], `enrollment.${k}`);
  }
  for (const k of ["learningRate", "alpha", "lambda", "gamma", "durationMs"]) {
    num(enrollment[k], `enrollment.${k}`);
  }
  if (!Array.isArray(enrollment.imageSha256)) fail("enrollment.imageSha256 is not a list");
  const losses = obj(enrollment.losses, "enrollment.losses");
  nums(losses.normal, "enrollment.losses.normal");
  nums(losses.anomaly, "enrollment.losses.anomaly");

  const expect = (t: Float32Array, n: number, name: string) => {
    if (!(t instanceof Float32Array) || t.length !== n) {
      fail(`${name} has ${t?.length} values, expected ${n}`);
    }
    if (!t.every(Number.isFinite)) fail(`${name} holds non-finite values`);
  };
  expect(profile.concepts.normal, width, "concept.normal");
  expect(profile.concepts.anomaly, width, "concept.anomaly");
  expect(profile.prototypes.normal, embed, "prototype.normal");
  expect(profile.prototypes.anomaly, embed, "prototype.anomaly");
  expect(profile.memory, count * dim, "memory");
}

/**
 * Brings format-1 metadata to the current format: the patch branch as it then scored (identity
 * view, no self-reference, raw intensity), and an ONNX backbone's resize and filter from its
 * description, which format 1 read at scoring time.
 */
async function migrateMeta(meta: Record<string, unknown>, path: string): Promise<void> {
  const patch = meta.patch as Record<string, unknown> | undefined;
  if (!patch || typeof patch !== "object") return; // validation names what is missing
  patch.testViews ??= ["identity"];
  patch.selfRadius ??= null;
  const extractor = patch.extractor as Record<string, unknown> | undefined;
  if (extractor?.kind === "onnx" && typeof extractor.config === "string") {
    extractor.intensity ??= "raw";
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
