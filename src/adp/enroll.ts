/**
 * Enrollment: from K good parts (1–16 images) to a station profile, the whole ADP method in stages —
 * pseudo-anomalies, the normal-aware concept c_n* (eq. 3), the anomaly-aware concept c_a* (eq. 4),
 * self-tuning of the prompt prototypes (eq. 5–6), the patch memory, and the calibration of fusion and
 * threshold on normal data only. Progress (stage, percent, ETA; enroll_progress.ts) goes to a
 * callback the service and the CLI show.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { decodeImage, type Rgb8Image } from "../image/mod.ts";
import { EnrollmentError, ImageError } from "../errors.ts";
import type { ClipModel } from "../model/mod.ts";
import { hashSeed } from "../random.ts";
import { collectCooperatively, cooperativePause, type Pause } from "../cooperate.ts";
import {
  CONCEPT_INIT_WORD,
  CONCEPT_PLACEHOLDER,
  learnConcept,
  type LearnedConcept,
  type PromptCandidate,
  type PromptObject,
  promptPrototypes,
  promptSets,
  selfTune,
  type SelfTuningResult,
  textAnomalyScores,
} from "./text/mod.ts";
import type { BranchScores } from "./fusion.ts";
import { calibrateStation, measureShotEdgeExcess } from "./calibration.ts";
import { type HeldOutDistances, heldOutDistances } from "./held_out.ts";
import {
  clipPatchSettings,
  concatFeatures,
  type FeatureExtractor,
  normalPatchBank,
  onnxPatchSettings,
  openPatchExtractor,
  openPatchMemory,
  PATCH_DEFAULTS,
  type PatchFeatures,
  type PatchMemory,
  type PatchSettings,
  splitFeatures,
  testViewFeatures,
  type View,
  viewOf,
} from "./patch/mod.ts";
import { imageEmbeddings } from "./vision_pass.ts";
import {
  type CalibrationSpec,
  type FusionSpec,
  PROFILE_FORMAT_VERSION,
  type StationProfile,
} from "./profile.ts";
import {
  iteratePseudoAnomalies,
  makePseudoAnomalies,
  type SynthesisWorker,
  type SynthMode,
} from "./synth/mod.ts";
import type { SdeditOptions, StableDiffusion } from "../diffusion/mod.ts";
import { enrollSynthesizer, resolveSynthMode } from "./enroll_synthesis.ts";
import { type EnrollProgress, type ProgressReporter, progressReporter } from "./enroll_progress.ts";

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
  /** The station the profile is for, recorded in it. */
  station?: string;
  /** The profile version to write. @default 1 */
  version?: number;
  /** Called at the start of each stage and after each concept-learning step. */
  onProgress?: (p: EnrollProgress) => void;
  /**
   * The operating point: the share of good parts the threshold may reject, honoured as closely as
   * the shots allow (calibration.ts). @default 0.01
   */
  targetFalseRejectRate?: number;
  /** Receives what calibration was computed from (for evaluation and diagnosis). */
  onCalibrationInputs?: (inputs: CalibrationInputs) => void;
  /** Cancels between steps with the signal's reason. */
  signal?: AbortSignal;
  /** Makes the pseudo-anomalies off this thread (a service's); without it they are made here, in slices. */
  synthesis?: SynthesisWorker;
  /**
   * What makes the pseudo-anomalies; `sd` and `mix` need `diffusion`, and without it fall back to
   * `procedural` with one line to `log`. @default "procedural"
   */
  synth?: SynthMode;
  /** The Stable Diffusion model for `sd` and `mix` (the caller releases it). */
  diffusion?: StableDiffusion;
  /** SDEdit's settings. @default {SD_DEFAULTS} */
  sdedit?: Partial<SdeditOptions>;
  /** Where the synthesizer's one-line notices go. @default console.error */
  log?: (line: string) => void;
  /**
   * Decodes a shot off this thread (a service's decode workers: one 900² PNG is 50–100 ms of
   * synchronous work that live scoring would wait behind). @default `decodeImage` here
   */
  decode?: (bytes: Uint8Array) => Promise<Rgb8Image>;
}

/** What calibration sees: held-out normals, held-out pseudo-anomalies, the shots' patch distances. */
export interface CalibrationInputs {
  /** Text scores of the held-out normals (the patch side is in `distances`). */
  normals: BranchScores[];
  /** Both branch scores of the held-out pseudo-anomalies. */
  pseudoAnomalies: BranchScores[];
  /** Every shot's patch distances to every other shot's view grids. */
  distances: HeldOutDistances;
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

/**
 * Learns a station profile from `images` (encoded PNG or JPEG) of good parts: the stages of
 * `ENROLL_STAGES` in order, one function each, then `buildProfile`.
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
  const run = enrollRun(clip, opts);
  const shots = await decodeShots(run, images);
  // Procedural pseudo-anomalies come first; SDEdit's prompts carry the normal-aware concept.
  const early = run.synth === "procedural" ? await pseudoAnomalies(run, shots) : undefined;
  const normal = await learnConceptStage(run, "normal-concept", shots);
  const pseudo = early ?? await pseudoAnomalies(run, shots, normal.concept);
  const concepts = {
    normal,
    anomaly: await learnConceptStage(run, "anomaly-concept", shots, { from: normal, pseudo }),
  };
  const tuned = await selfTuneCandidates(run, concepts, shots, pseudo);
  const patch = await buildPatchMemory(run, shots);
  try {
    run.check();
    const calibrated = await calibrate(run, { shots, pseudo, tuned, patch });
    const profile = buildProfile(run, { images, pseudo, concepts, tuned, patch, calibrated });
    run.progress("calibration", 1, `done in ${((performance.now() - run.started) / 1000).toFixed(1)} s`);
    return profile;
  } finally {
    await patch.memory.dispose();
    await patch.extractor.dispose();
  }
}

/** What every stage reads: the model, the settings, progress and cancellation. */
interface EnrollRun {
  clip: ClipModel;
  opts: EnrollOptions;
  /** The synthesizer that runs (`sd` asked for without a model runs `procedural`). */
  synth: SynthMode;
  seed: number;
  steps: number;
  /** `performance.now()` when enrollment began. */
  started: number;
  progress: ProgressReporter;
  /** Throws the cancellation when the signal has fired. */
  check: () => void;
  /**
   * Gives the event loop a turn between slices of synchronous work: an enrollment shares the
   * service's main thread with live scoring and must not hold it for long.
   */
  pause: Pause;
  /** Unit-norm CLIP image features [n, E]. */
  embed: (rgb: readonly Rgb8Image[]) => Promise<Float64Array>;
}

function enrollRun(clip: ClipModel, opts: EnrollOptions): EnrollRun {
  const started = performance.now();
  const pause = cooperativePause();
  const synth = resolveSynthMode(opts.synth ?? "procedural", opts.diffusion, opts.log);
  return {
    clip,
    opts,
    synth,
    seed: opts.seed ?? 0,
    steps: opts.steps ?? DEFAULTS.steps,
    started,
    progress: progressReporter(opts.onProgress, started, synth),
    check: () => {
      if (opts.signal?.aborted) {
        throw new EnrollmentError(`Enrollment cancelled: ${opts.signal.reason ?? "aborted"}`);
      }
    },
    pause,
    embed: (rgb) => imageEmbeddings(clip, rgb, pause),
  };
}

/** Stage "features": the good parts, decoded, and their CLIP image features. */
interface NormalShots {
  images: Rgb8Image[];
  features: Float64Array;
}

async function decodeShots(run: EnrollRun, images: readonly Uint8Array[]): Promise<NormalShots> {
  run.progress("features", 0, `decoding ${images.length} images`);
  const normals: Rgb8Image[] = [];
  for (const [i, bytes] of images.entries()) {
    try {
      normals.push(await (run.opts.decode ?? decodeImage)(bytes));
    } catch (error) {
      throw new ImageError(
        `Enrollment image ${i + 1} of ${images.length} cannot be used: ${(error as Error).message}`,
        { cause: error },
      );
    }
    await run.pause();
  }
  const features = await run.embed(normals);
  run.check();
  return { images: normals, features };
}

/** Stage "pseudo-anomalies": a training set for eq. 4 and a held-out set for validation. */
interface PseudoAnomalySets {
  /** Pseudo-anomalies in each set. */
  count: number;
  /** CLIP features of the training set, for the anomaly-aware concept. */
  trainFeatures: Float64Array;
  /** The held-out set, for self-tuning and calibration. */
  held: Rgb8Image[];
  heldFeatures: Float64Array;
}

/**
 * Makes both sets; with Stable Diffusion, `concept` (c_n*) is the part in its prompts, and progress
 * is reported per image.
 */
async function pseudoAnomalies(
  run: EnrollRun,
  shots: NormalShots,
  concept?: Float32Array,
): Promise<PseudoAnomalySets> {
  const normals = shots.images;
  const count = Math.max(DEFAULTS.minAnomalies, DEFAULTS.anomaliesPerShot * normals.length);
  run.progress("pseudo-anomalies", 0, `synthesising ${2 * count} pseudo-anomalies (${run.synth})`);
  const crop = {
    size: run.clip.config.vision.imageSize,
    scale: [0.5, 1] as [number, number],
    ratio: [3 / 4, 4 / 3] as [number, number],
  };
  const { synthesis, signal } = run.opts;
  const synthesizer = run.synth === "procedural" ? undefined : enrollSynthesizer(run.synth, {
    diffusion: run.opts.diffusion!,
    concept,
    label: run.opts.label,
    sdedit: run.opts.sdedit,
    log: run.opts.log,
  });
  const make = (set: string, offset: number) => {
    const opts = { count, seed: hashSeed(run.seed, set), crop };
    if (synthesizer) {
      return makePseudoAnomalies(normals, {
        ...opts,
        synthesizer,
        signal,
        onProgress: (done) =>
          run.progress(
            "pseudo-anomalies",
            (offset + done) / (2 * count),
            `${run.synth}: ${offset + done} of ${2 * count} pseudo-anomalies`,
          ),
      });
    }
    if (synthesis) return synthesis.synthesize(normals, opts, signal);
    return collectCooperatively(iteratePseudoAnomalies(normals, opts), run.pause);
  };
  const train = await make("train", 0);
  run.check();
  const held = await make("validation", count);
  const trainFeatures = await run.embed(train.map((a) => a.image));
  const heldImages = held.map((a) => a.image);
  const heldFeatures = await run.embed(heldImages);
  run.check();
  return { count, trainFeatures, held: heldImages, heldFeatures };
}

/** Stages "normal-concept" and "anomaly-concept": c_n* (eq. 3), then c_a* from it (eq. 4). */
interface LearnedConcepts {
  normal: LearnedConcept;
  anomaly: LearnedConcept;
}

/** One concept stage: c_n* from the initial word, or c_a* from c_n* and the pseudo-anomalies. */
async function learnConceptStage(
  run: EnrollRun,
  stage: "normal-concept" | "anomaly-concept",
  shots: NormalShots,
  anomaly?: { from: LearnedConcept; pseudo: PseudoAnomalySets },
): Promise<LearnedConcept> {
  const { clip, progress } = run;
  progress(
    stage,
    0,
    anomaly ? "learning the anomaly-aware concept (eq. 4)" : "learning the normal-aware concept (eq. 3)",
  );
  const from = anomaly ? anomaly.from.concept : await clip.wordEmbeddings([CONCEPT_INIT_WORD]);
  return await learnConcept(
    clip,
    from,
    { normals: shots.features, anomalies: anomaly?.pseudo.trainFeatures },
    {
      steps: run.steps,
      learningRate: DEFAULTS.learningRate,
      weights: { alpha: DEFAULTS.alpha, lambda: DEFAULTS.lambda, gamma: DEFAULTS.gamma },
      promptsPerStep: DEFAULTS.promptsPerStep,
      seed: hashSeed(run.seed, stage),
      placeholder: CONCEPT_PLACEHOLDER,
      prompts: promptSets(CONCEPT_PLACEHOLDER),
      onStep: (s) => {
        run.check();
        progress(
          stage,
          s.step / s.steps,
          `step ${s.step}/${s.steps} loss ${s.loss.toFixed(4)} P_n(normal) ${s.normalProbability.toFixed(3)}`,
          { step: s.step, steps: s.steps, loss: s.loss },
        );
      },
    },
  );
}

/**
 * Stage "self-tuning": the candidates c_n*, c_a* and the label (ADP_ℓ) weighed on the shots against
 * the held-out pseudo-anomalies, and averaged into the prototypes.
 */
async function selfTuneCandidates(
  run: EnrollRun,
  concepts: LearnedConcepts,
  shots: NormalShots,
  pseudo: PseudoAnomalySets,
): Promise<SelfTuningResult> {
  run.progress("self-tuning", 0, "weighing prompt candidates on held-out pseudo-anomalies");
  const { clip, opts } = run;
  const candidate = async (name: string, object: PromptObject): Promise<PromptCandidate> => ({
    name,
    ...await promptPrototypes(clip, object),
  });
  const candidates = [
    await candidate("normal-concept", { concept: concepts.normal.concept }),
    await candidate("anomaly-concept", { concept: concepts.anomaly.concept }),
  ];
  if (opts.label) candidates.push(await candidate(`label:${opts.label}`, { word: opts.label }));
  const normals = shots.images.length;
  const validationFeatures = new Float64Array(shots.features.length + pseudo.heldFeatures.length);
  validationFeatures.set(shots.features);
  validationFeatures.set(pseudo.heldFeatures, shots.features.length);
  const labels = Uint8Array.from(
    { length: normals + pseudo.held.length },
    (_, i) => (i < normals ? 0 : 1),
  );
  const tuned = selfTune(candidates, { features: validationFeatures, labels }, clip.logitScale);
  run.check();
  return tuned;
}

/**
 * Stage "patch-memory": the branch's settings (the edge excess measured), its open extractor, the
 * memory of the shots, and the shots' distances to one another that calibration reads.
 */
interface PatchBranch {
  settings: PatchSettings;
  extractor: FeatureExtractor;
  /** The bank as one block: the memory's rows. */
  all: PatchFeatures;
  memory: PatchMemory;
  /** The shots against one another, with each shot's edge offsets (held_out.ts, calibration.ts). */
  distances: HeldOutDistances;
}

/** Opens the extractor and the memory; the caller disposes both. */
async function buildPatchMemory(run: EnrollRun, shots: NormalShots): Promise<PatchBranch> {
  run.progress("patch-memory", 0, "building the patch memory");
  const chosen: PatchSettings = run.opts.backbone
    ? await onnxPatchSettings(run.opts.backbone, run.clip.precision === "int8" ? "int8" : "fp32")
    : clipPatchSettings(run.clip);
  const extractor = await openPatchExtractor(run.clip, chosen.extractor);
  try {
    const bank = await normalPatchBank(extractor, shots.images, chosen.views);
    const all = concatFeatures(bank);
    const measured = await shotDistances(extractor, shots.images, bank, chosen);
    const edge = measureShotEdgeExcess(measured, all, PATCH_DEFAULTS.edgeRings);
    const settings = { ...chosen, edgeExcess: edge.excess };
    const memory = await openPatchMemory(all, settings, { precision: run.clip.precision });
    return { settings, extractor, all, memory, distances: edge.distances };
  } catch (error) {
    await extractor.dispose();
    throw error;
  }
}

/**
 * The views the shots are measured against one another through: the branch's own, except that one
 * shot with no symmetry in the memory (CLIP tokens) is measured through the single-shot views.
 */
function calibrationViews(
  shots: number,
  settings: PatchSettings,
): { memoryViews: readonly View[]; testViews: readonly View[] } {
  return shots === 1 && settings.views.length < 2
    ? { memoryViews: SINGLE_SHOT_VIEWS, testViews: SINGLE_SHOT_VIEWS }
    : { memoryViews: settings.views, testViews: settings.testViews };
}

/** Every shot's patch distances to every other shot's views (held_out.ts). */
async function shotDistances(
  extractor: FeatureExtractor,
  normals: readonly Rgb8Image[],
  bank: readonly PatchFeatures[],
  settings: PatchSettings,
): Promise<HeldOutDistances> {
  const { memoryViews, testViews } = calibrationViews(normals.length, settings);
  const calibrationBank = sameViews(memoryViews, settings.views)
    ? bank
    : await normalPatchBank(extractor, normals, memoryViews);
  return await heldOutDistances(
    calibrationBank,
    sameViews(memoryViews, testViews)
      ? calibrationBank.flatMap(splitFeatures)
      : await testViewFeatures(extractor, normals.map((n) => extractor.prepare(n)), testViews),
    testViews,
    settings,
  );
}

/** Stage "calibration": fusion and threshold, from held-out normals and pseudo-anomalies. */
interface Calibration {
  fusion: FusionSpec;
  threshold: number;
  calibration: CalibrationSpec;
}

async function calibrate(
  run: EnrollRun,
  stages: { shots: NormalShots; pseudo: PseudoAnomalySets; tuned: SelfTuningResult; patch: PatchBranch },
): Promise<Calibration> {
  const { clip, embed, opts } = run;
  const { images: normals, features: normalFeatures } = stages.shots;
  const { held, heldFeatures } = stages.pseudo;
  const { tuned } = stages;
  const { extractor, memory, settings, distances } = stages.patch;
  run.progress("calibration", 0, "calibrating fusion and threshold (memory curves)");
  const textOf = (features: Float64Array) =>
    textAnomalyScores(features, tuned.prototypeNormal, tuned.prototypeAnomalous, clip.logitScale);
  const heldText = textOf(heldFeatures);
  const heldPatch = await framePatchScores(extractor, memory, held, settings);
  const heldScores: BranchScores[] = held.map((_, i) => ({ patch: heldPatch[i], text: heldText[i] }));
  // Text of the held-out normals: the shots (K ≥ 2); the views of the one shot (K = 1).
  const { memoryViews, testViews } = calibrationViews(normals.length, settings);
  const normalText = normals.length >= 2
    ? textOf(normalFeatures)
    : textOf(await embed(memoryViews.slice(0, testViews.length).map((view) => viewOf(normals[0], view))));
  const result = calibrateStation(
    { distances, normalText: [...normalText], pseudoAnomalies: heldScores },
    {
      seed: run.seed,
      ...(opts.targetFalseRejectRate !== undefined
        ? { targetFalseRejectRate: opts.targetFalseRejectRate }
        : {}),
    },
  );
  opts.onCalibrationInputs?.({
    normals: [...normalText].map((text) => ({ patch: NaN, text })),
    pseudoAnomalies: heldScores,
    distances,
  });
  return result;
}

/** The profile from every stage's result, with how it was made. */
function buildProfile(
  run: EnrollRun,
  stages: {
    images: readonly Uint8Array[];
    pseudo: PseudoAnomalySets;
    concepts: LearnedConcepts;
    tuned: SelfTuningResult;
    patch: PatchBranch;
    calibrated: Calibration;
  },
): StationProfile {
  const { clip, opts } = run;
  const { images, concepts, tuned, patch, calibrated } = stages;
  return {
    meta: {
      formatVersion: PROFILE_FORMAT_VERSION,
      version: opts.version ?? 1,
      createdAt: new Date().toISOString(),
      ...(opts.station ? { station: opts.station } : {}),
      ...(opts.label ? { label: opts.label } : {}),
      model: {
        id: basename(clip.dir),
        hash: clip.hash,
        embedDim: clip.config.embedDim,
        width: clip.config.text.width,
        precision: clip.precision,
      },
      patch: {
        ...patch.settings,
        dim: patch.all.dim,
        gridH: patch.all.gridH,
        gridW: patch.all.gridW,
        count: patch.memory.size,
      },
      selfTuning: { weights: tuned.weights, aurocs: tuned.aurocs },
      fusion: calibrated.fusion,
      threshold: calibrated.threshold,
      calibration: calibrated.calibration,
      enrollment: {
        shots: images.length,
        seed: run.seed,
        steps: run.steps,
        learningRate: DEFAULTS.learningRate,
        alpha: DEFAULTS.alpha,
        lambda: DEFAULTS.lambda,
        gamma: DEFAULTS.gamma,
        promptsPerStep: DEFAULTS.promptsPerStep,
        pseudoAnomalies: stages.pseudo.count,
        synthesizer: run.synth,
        imageSha256: images.map((b) => createHash("sha256").update(b).digest("hex")),
        durationMs: Math.round(performance.now() - run.started),
        losses: { normal: concepts.normal.losses, anomaly: concepts.anomaly.losses },
      },
    },
    concepts: { normal: concepts.normal.concept, anomaly: concepts.anomaly.concept },
    prototypes: {
      normal: Float32Array.from(tuned.prototypeNormal),
      anomaly: Float32Array.from(tuned.prototypeAnomalous),
    },
    memory: memoryRows(patch.all),
  };
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

function memoryRows(features: { data: Float32Array }): Float32Array {
  return Float32Array.from(features.data);
}
