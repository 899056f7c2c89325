/**
 * Enrollment: from K good parts (1–16 images) to a station profile, the whole ADP method in stages —
 * pseudo-anomalies, the normal-aware concept c_n* (eq. 3), the anomaly-aware concept c_a* (eq. 4),
 * self-tuning of the prompt prototypes (eq. 5–6), the patch memory, and the calibration of fusion and
 * threshold on normal data only. Progress (stage, percent, ETA) goes to a callback the service and
 * the CLI show.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { decodeImage, type Rgb8Image } from "../image/mod.ts";
import { EnrollmentError, ImageError } from "../errors.ts";
import type { ClipModel } from "../model/mod.ts";
import { hashSeed } from "../random.ts";
import {
  CONCEPT_INIT_WORD,
  CONCEPT_PLACEHOLDER,
  learnConcept,
  type PromptCandidate,
  promptSetEmbedding,
  promptSets,
  selfTune,
  textAnomalyScores,
} from "./text/mod.ts";
import {
  type BranchScores,
  calibrateFusion,
  calibrateThreshold,
  SINGLE_SHOT_SPREAD_FLOOR,
} from "./fusion.ts";
import {
  clipPatchSettings,
  concatFeatures,
  type FeatureExtractor,
  normalPatchBank,
  onnxPatchSettings,
  openPatchExtractor,
  openPatchMemory,
  type PatchFeatures,
  type PatchMemory,
  type PatchSettings,
  splitFeatures,
  testViewFeatures,
  type View,
  viewOf,
} from "./patch/mod.ts";
import { imageEmbeddings } from "./vision_pass.ts";
import { PROFILE_FORMAT_VERSION, type StationProfile } from "./profile.ts";
import { synthesizePseudoAnomalies } from "./synth/mod.ts";

/** Stages in the order they run. */
export const ENROLL_STAGES = [
  "features",
  "pseudo-anomalies",
  "normal-concept",
  "anomaly-concept",
  "self-tuning",
  "patch-memory",
  "calibration",
] as const;
/** One enrollment stage. */
export type EnrollStage = typeof ENROLL_STAGES[number];

/** A progress report. */
export interface EnrollProgress {
  stage: EnrollStage;
  /** Of the whole enrollment, 0–100. */
  percent: number;
  /** Seconds left, from the pace so far; null before there is a pace. */
  etaSeconds: number | null;
  message: string;
  step?: number;
  steps?: number;
  loss?: number;
}

/** Options of {@linkcode enroll}. */
export interface EnrollOptions {
  /** Everything random (pseudo-anomalies, prompt draws) follows it. @default 0 */
  seed?: number;
  /** The part's name ("bottle"): its prompts join self-tuning (ADP_ℓ). */
  label?: string;
  /** Adam steps per concept. @default 40 */
  steps?: number;
  /** A backbone JSON for the patch branch instead of CLIP's own tokens. */
  backbone?: string;
  station?: string;
  /** The profile version to write. @default 1 */
  version?: number;
  onProgress?: (p: EnrollProgress) => void;
  /** Cancels between steps with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Defaults, and why:
 * - lr 5e-3: textual inversion's usual Adam rate for token embeddings of CLIP's scale (entries
 *   ~0.01–0.05), moving a concept visibly in tens of steps without overshooting.
 * - α = 1, λ = 0.5: the normality probability drives the concept; the alignment term keeps it
 *   describing the parts themselves, not merely "flawless".
 * - γ = 0.3: the fixture's margin; pseudo-anomalies may keep a little normality (they are synthetic).
 * - 8 prompts per set per step: an unbiased estimate of the set averages at a fraction of the cost.
 * - pseudo-anomalies: 4 per shot for training (at least 16), as many again held out for validation.
 */
const DEFAULTS = {
  steps: 40,
  learningRate: 5e-3,
  alpha: 1,
  lambda: 0.5,
  gamma: 0.3,
  promptsPerStep: 8,
  anomaliesPerShot: 4,
  minAnomalies: 16,
};
const MAX_SHOTS = 16;

/** Relative duration of each stage, for the overall percentage (concept learning dominates). */
const STAGE_WEIGHT: Record<EnrollStage, number> = {
  "features": 4,
  "pseudo-anomalies": 2,
  "normal-concept": 40,
  "anomaly-concept": 40,
  "self-tuning": 4,
  "patch-memory": 4,
  "calibration": 6,
};

/**
 * Learns a station profile from `images` (encoded PNG or JPEG) of good parts.
 *
 * @throws {EnrollmentError} for too few or too many images, or when cancelled
 * @throws {ImageError} naming the image that cannot be decoded
 */
export async function enroll(
  clip: ClipModel,
  images: Uint8Array[],
  opts: EnrollOptions = {},
): Promise<StationProfile> {
  if (images.length < 1 || images.length > MAX_SHOTS) {
    throw new EnrollmentError(`Enrollment takes 1–${MAX_SHOTS} images of good parts: got ${images.length}`);
  }
  const started = performance.now();
  const seed = opts.seed ?? 0;
  const steps = opts.steps ?? DEFAULTS.steps;
  const progress = progressReporter(opts.onProgress, started);
  const check = () => {
    if (opts.signal?.aborted) {
      throw new EnrollmentError(`Enrollment cancelled: ${opts.signal.reason ?? "aborted"}`);
    }
  };

  progress("features", 0, `decoding ${images.length} images`);
  const normals = await Promise.all(images.map(async (bytes, i) => {
    try {
      return await decodeImage(bytes);
    } catch (error) {
      throw new ImageError(
        `Enrollment image ${i + 1} of ${images.length} cannot be used: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }));
  const embed = (rgb: readonly Rgb8Image[]) => imageEmbeddings(clip, rgb);
  const normalFeatures = await embed(normals);
  check();

  progress("pseudo-anomalies", 0, "synthesising pseudo-anomalies");
  const count = Math.max(DEFAULTS.minAnomalies, DEFAULTS.anomaliesPerShot * normals.length);
  const crop = {
    size: clip.config.vision.imageSize,
    scale: [0.5, 1] as [number, number],
    ratio: [3 / 4, 4 / 3] as [number, number],
  };
  const train = synthesizePseudoAnomalies(normals, { count, seed: hashSeed(seed, "train"), crop });
  const held = synthesizePseudoAnomalies(normals, { count, seed: hashSeed(seed, "validation"), crop });
  const trainFeatures = await embed(train.map((a) => a.image));
  const heldFeatures = await embed(held.map((a) => a.image));
  check();

  const prompts = promptSets(CONCEPT_PLACEHOLDER);
  const init = await clip.wordEmbeddings([CONCEPT_INIT_WORD]);
  const learn = async (
    stage: "normal-concept" | "anomaly-concept",
    from: Float32Array,
    anomalies?: Float64Array,
  ) => {
    const result = await learnConcept(clip, from, { normals: normalFeatures, anomalies }, {
      steps,
      learningRate: DEFAULTS.learningRate,
      weights: { alpha: DEFAULTS.alpha, lambda: DEFAULTS.lambda, gamma: DEFAULTS.gamma },
      promptsPerStep: DEFAULTS.promptsPerStep,
      seed: hashSeed(seed, stage),
      placeholder: CONCEPT_PLACEHOLDER,
      prompts,
      onStep: (s) => {
        check();
        progress(
          stage,
          s.step / s.steps,
          `step ${s.step}/${s.steps} loss ${s.loss.toFixed(4)} P_n(normal) ${s.normalProbability.toFixed(3)}`,
          {
            step: s.step,
            steps: s.steps,
            loss: s.loss,
          },
        );
      },
    });
    return result;
  };
  progress("normal-concept", 0, "learning the normal-aware concept (eq. 3)");
  const normalConcept = await learn("normal-concept", init);
  progress("anomaly-concept", 0, "learning the anomaly-aware concept (eq. 4)");
  const anomalyConcept = await learn("anomaly-concept", normalConcept.concept, trainFeatures);

  progress("self-tuning", 0, "weighing prompt candidates on held-out pseudo-anomalies");
  const e = clip.config.embedDim;
  const candidate = async (
    name: string,
    texts: (word: string) => ReturnType<typeof promptSets>,
    concept?: Float32Array,
  ) => {
    const sets = texts(CONCEPT_PLACEHOLDER);
    const encode = (t: string[]) =>
      concept ? clip.encodeTextWithConcept(t, CONCEPT_PLACEHOLDER, concept) : clip.encodeText(t);
    return {
      name,
      normal: promptSetEmbedding(await encode(sets.normal), e),
      anomalous: promptSetEmbedding(await encode(sets.anomalous), e),
    } satisfies PromptCandidate;
  };
  const candidates = [
    await candidate("normal-concept", promptSets, normalConcept.concept),
    await candidate("anomaly-concept", promptSets, anomalyConcept.concept),
  ];
  if (opts.label) candidates.push(await candidate(`label:${opts.label}`, () => promptSets(opts.label!)));
  const validationFeatures = new Float64Array(normalFeatures.length + heldFeatures.length);
  validationFeatures.set(normalFeatures);
  validationFeatures.set(heldFeatures, normalFeatures.length);
  const labels = Uint8Array.from(
    { length: normals.length + held.length },
    (_, i) => (i < normals.length ? 0 : 1),
  );
  const tuned = selfTune(candidates, { features: validationFeatures, labels }, clip.logitScale);
  check();

  progress("patch-memory", 0, "building the patch memory");
  const settings: PatchSettings = opts.backbone
    ? await onnxPatchSettings(opts.backbone)
    : clipPatchSettings(clip);
  const extractor = await openPatchExtractor(clip, settings.extractor);
  let memory: PatchMemory | undefined;
  try {
    const bank = await normalPatchBank(extractor, normals, settings.views);
    const all = concatFeatures(bank);
    memory = await openPatchMemory(all, settings);
    check();

    progress("calibration", 0, "calibrating fusion and threshold (leave-one-out)");
    const textOf = (features: Float64Array) =>
      textAnomalyScores(features, tuned.prototypeNormal, tuned.prototypeAnomalous, clip.logitScale);
    const heldOut = await heldOutNormals(extractor, normals, bank, settings);
    const heldOutText = textOf(
      heldOut.images === normals ? normalFeatures : await embed(heldOut.images),
    );
    const normalScores: BranchScores[] = heldOut.patch.map((patch, i) => ({ patch, text: heldOutText[i] }));
    const heldText = textOf(heldFeatures);
    const heldPatch = await framePatchScores(extractor, memory, held.map((a) => a.image), settings);
    const heldScores: BranchScores[] = held.map((_, i) => ({ patch: heldPatch[i], text: heldText[i] }));
    const fusion = calibrateFusion(normalScores, heldScores, {
      ...(normals.length === 1 ? { spreadFloor: SINGLE_SHOT_SPREAD_FLOOR } : {}),
    });
    const { threshold, calibration } = calibrateThreshold(normalScores, heldScores, fusion);

    const profile: StationProfile = {
      meta: {
        formatVersion: PROFILE_FORMAT_VERSION,
        version: opts.version ?? 1,
        createdAt: new Date().toISOString(),
        ...(opts.station ? { station: opts.station } : {}),
        ...(opts.label ? { label: opts.label } : {}),
        model: {
          id: basename(clip.dir),
          hash: clip.hash,
          embedDim: e,
          width: clip.config.text.width,
          precision: clip.precision,
        },
        patch: {
          ...settings,
          dim: all.dim,
          gridH: all.gridH,
          gridW: all.gridW,
          count: memory.size,
        },
        selfTuning: { weights: tuned.weights, aurocs: tuned.aurocs },
        fusion,
        threshold,
        calibration,
        enrollment: {
          shots: images.length,
          seed,
          steps,
          learningRate: DEFAULTS.learningRate,
          alpha: DEFAULTS.alpha,
          lambda: DEFAULTS.lambda,
          gamma: DEFAULTS.gamma,
          promptsPerStep: DEFAULTS.promptsPerStep,
          pseudoAnomalies: count,
          imageSha256: images.map((b) => createHash("sha256").update(b).digest("hex")),
          durationMs: Math.round(performance.now() - started),
          losses: { normal: normalConcept.losses, anomaly: anomalyConcept.losses },
        },
      },
      concepts: { normal: normalConcept.concept, anomaly: anomalyConcept.concept },
      prototypes: {
        normal: Float32Array.from(tuned.prototypeNormal),
        anomaly: Float32Array.from(tuned.prototypeAnomalous),
      },
      memory: memoryRows(all),
    };
    progress("calibration", 1, `done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return profile;
  } finally {
    await memory?.dispose();
    await extractor.dispose();
  }
}

/** Each frame's patch image score as the scorer computes it: test views averaged, self-reference. */
async function framePatchScores(
  extractor: FeatureExtractor,
  memory: PatchMemory,
  frames: readonly Rgb8Image[],
  settings: PatchSettings,
): Promise<number[]> {
  const inputs = frames.map((f) => extractor.prepare(f));
  const scores = await memory.scoreViews(
    await testViewFeatures(extractor, inputs, settings.testViews),
    settings.testViews,
  );
  return scores.map((s) => s.imageScores[0]);
}

function sameViews(a: readonly View[], b: readonly View[]): boolean {
  return a.length === b.length && a.every((view, i) => view === b[i]);
}

/** The symmetries a single shot stands in for unseen good parts with (those PATCH_DEFAULTS uses). */
const SINGLE_SHOT_VIEWS: readonly View[] = ["identity", "flipH", "flipV", "rot180"];

/**
 * Patch scores of good parts the memory has not seen, for calibration, and the images they are of.
 *
 * With K ≥ 2, leave-one-out: each shot scored, exactly as a frame is, against a memory of the other
 * shots (all their views). With K = 1 there is no other shot; the shot seen through each symmetry
 * stands in for another part, scored against a memory of its other views. A mirrored surface is
 * a different lattice of the same texture and a mirrored part a different pose, so this keeps the
 * spread of normal scores honest where scoring the shot against itself gave 0 (and a threshold any
 * real good part exceeded). The single view is scored alone, without test-view averaging, so these
 * scores run a little higher than a frame's: the threshold errs toward passing parts.
 */
async function heldOutNormals(
  extractor: FeatureExtractor,
  normals: readonly Rgb8Image[],
  bank: readonly PatchFeatures[],
  settings: PatchSettings,
): Promise<{ patch: number[]; images: readonly Rgb8Image[] }> {
  if (normals.length >= 2) {
    const v = settings.testViews.length;
    // The memory's views are usually the test views: their features are already in the bank.
    const views = sameViews(settings.views, settings.testViews)
      ? bank.flatMap(splitFeatures)
      : await testViewFeatures(extractor, normals.map((n) => extractor.prepare(n)), settings.testViews);
    const patch: number[] = [];
    for (let i = 0; i < normals.length; i++) {
      const others = await openPatchMemory(bank.filter((_, j) => j !== i), settings);
      try {
        const [own] = await others.scoreViews(views.slice(i * v, (i + 1) * v), settings.testViews);
        patch.push(own.imageScores[0]);
      } finally {
        await others.dispose();
      }
    }
    return { patch, images: normals };
  }
  const [shot] = bank;
  const input = extractor.prepare(normals[0]);
  const cells = shot.gridH * shot.gridW * shot.dim;
  const patch: number[] = [], images: Rgb8Image[] = [];
  for (const view of SINGLE_SHOT_VIEWS) {
    const kept = settings.views.flatMap((v, i) => (v === view ? [] : [i]));
    if (kept.length === 0) continue;
    const memoryData = new Float32Array(kept.length * cells);
    kept.forEach((from, i) =>
      memoryData.set(shot.data.subarray(from * cells, (from + 1) * cells), i * cells)
    );
    const at = settings.views.indexOf(view);
    const query = at >= 0
      ? { ...shot, n: 1, data: shot.data.subarray(at * cells, (at + 1) * cells) }
      : (await extractor.extractEach([viewOf(input, view)]))[0];
    const others = await openPatchMemory({ ...shot, n: kept.length, data: memoryData }, settings);
    try {
      patch.push((await others.scoreViews([query], ["identity"]))[0].imageScores[0]);
      images.push(viewOf(normals[0], view));
    } finally {
      await others.dispose();
    }
  }
  return { patch, images };
}

function memoryRows(features: { data: Float32Array }): Float32Array {
  return Float32Array.from(features.data);
}

function progressReporter(
  onProgress: ((p: EnrollProgress) => void) | undefined,
  started: number,
): (stage: EnrollStage, fraction: number, message: string, extra?: Partial<EnrollProgress>) => void {
  const total = Object.values(STAGE_WEIGHT).reduce((a, b) => a + b, 0);
  return (stage, fraction, message, extra = {}) => {
    if (!onProgress) return;
    const before = ENROLL_STAGES.slice(0, ENROLL_STAGES.indexOf(stage)).reduce(
      (a, s) => a + STAGE_WEIGHT[s],
      0,
    );
    const percent = Math.min(100, (100 * (before + fraction * STAGE_WEIGHT[stage])) / total);
    const elapsed = (performance.now() - started) / 1000;
    const etaSeconds = percent > 2 ? (elapsed * (100 - percent)) / percent : null;
    onProgress({ stage, percent, etaSeconds, message, ...extra });
  };
}
