/**
 * One few-shot run of the ADP variants: enrollment through `enroll` (the product's own path), every
 * test image through the product's scorer, and the Table 2 ablations composed from the same pieces
 * enrollment uses — the learned concepts spoken through the prompt sets (`promptPrototypes`, as
 * self-tuning's candidates are), `textAnomalyScores`, and a textual-inversion concept learned with
 * the normality term switched off — without touching src/adp.
 *
 * @module
 */
import type { Rgb8Image } from "../image/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import {
  type CalibrationInputs,
  createScorer,
  enroll,
  type EnrollProgress,
  imageEmbeddings,
  type StationProfile,
  VISION_BATCH,
} from "../adp/mod.ts";
import {
  CONCEPT_INIT_WORD,
  CONCEPT_PLACEHOLDER,
  learnConcept,
  promptPrototypes,
  promptSets,
  textAnomalyScores,
} from "../adp/text/mod.ts";
import { hashSeed } from "../random.ts";
import { fitMap, type PixelTruth } from "./_ground_truth.ts";
import { loadImage, type TestSample } from "./datasets.ts";
import type { Variant } from "./protocol.ts";

/** What one ADP run needs. */
export interface AdpRunInput {
  /** The CLIP model. */
  clip: ClipModel;
  /** The K shot files. */
  shots: readonly string[];
  /** Seed of enrollment's randomness. */
  seed: number;
  /** The part's name for ADP_ℓ's label prompts. */
  label?: string;
  /** Adam steps per concept; enrollment's default when absent. */
  steps?: number;
  /** A backbone JSON for the patch branch instead of CLIP tokens. */
  backbone?: string;
  /** The test images. */
  test: readonly TestSample[];
  /** The ADP variants to score. */
  variants: readonly Variant[];
  /** The pixel ground truth; with `maps`, the profile's maps are written at its resolution. */
  truth?: PixelTruth;
  /** Where the profile's maps go, laid out as `truth`. */
  maps?: Float32Array;
  /** Unit-norm CLIP features of the test images (computed once per category), for the ablations. */
  testEmbeddings: () => Promise<Float64Array>;
  /** Share of the run done (0–1) and what is going on. */
  onProgress?: (fraction: number, stage: string) => void;
}

/** What one ADP run produced. */
export interface AdpRunOutput {
  /** One score per test image for each requested ADP variant. */
  scores: Partial<Record<Variant, Float64Array>>;
  /** What enrollment calibrated from. */
  calibrationInputs?: CalibrationInputs;
  /** The product's verdict per test image at the calibrated threshold. */
  anomalous: Uint8Array;
  /** The product's fused score per test image. */
  fused: Float64Array;
  /** The profile's calibrated threshold (fused units). */
  threshold: number;
  /** The enrolled profile. */
  profile: StationProfile;
  /** Time spent enrolling. */
  enrollMs: number;
  /** Time spent scoring the test images. */
  scoreMs: number;
}

/** Enrolls on the shots, scores the test images, and scores every requested ADP variant. */
export async function runAdp(input: AdpRunInput): Promise<AdpRunOutput> {
  const { clip, test } = input;
  const report = input.onProgress ?? (() => {});
  const started = performance.now();
  const shotBytes = await Promise.all(input.shots.map((p) => Deno.readFile(p)));
  let calibrationInputs: CalibrationInputs | undefined;
  const profile = await enroll(clip, shotBytes, {
    onCalibrationInputs: (c) => calibrationInputs = c,
    seed: input.seed,
    label: input.label,
    steps: input.steps,
    backbone: input.backbone,
    onProgress: (p: EnrollProgress) => report(0.6 * (p.percent / 100), `enrolling: ${p.stage}`),
  });
  const enrollMs = performance.now() - started;

  const n = test.length;
  const fused = new Float64Array(n), text = new Float64Array(n), patch = new Float64Array(n);
  const anomalous = new Uint8Array(n);
  const scorer = createScorer(clip, profile);
  try {
    for (let start = 0; start < n; start += VISION_BATCH) {
      const batch = test.slice(start, start + VISION_BATCH);
      const images: Rgb8Image[] = [];
      for (const sample of batch) images.push(await loadImage(sample.path));
      const frames = await scorer.scoreRgb(images);
      frames.forEach((f, j) => {
        const i = start + j;
        fused[i] = f.score;
        text[i] = f.textScore;
        patch[i] = f.patchScore;
        anomalous[i] = f.anomalous ? 1 : 0;
        if (input.maps && input.truth) {
          const size = input.truth.sizes[i];
          const map = fitMap({ width: f.mapWidth, height: f.mapHeight, data: f.map }, size);
          input.maps.set(map, input.truth.offsets[i]);
        }
      });
      report(0.6 + 0.3 * Math.min(1, (start + batch.length) / n), "scoring the test images");
    }
  } finally {
    await scorer.dispose();
  }

  const scores: Partial<Record<Variant, Float64Array>> = {};
  const want = new Set(input.variants);
  if (want.has("fused")) scores.fused = fused;
  if (want.has("text")) scores.text = text;
  if (want.has("patch")) scores.patch = patch;
  if (want.has("normal-concept") || want.has("anomaly-concept") || want.has("textual-inversion")) {
    report(0.9, "scoring the ablations");
    const embeddings = await input.testEmbeddings();
    const conceptScores = async (concept: Float32Array) => {
      const p = await promptPrototypes(clip, { concept });
      return textAnomalyScores(embeddings, p.normal, p.anomalous, clip.logitScale);
    };
    if (want.has("normal-concept")) scores["normal-concept"] = await conceptScores(profile.concepts.normal);
    if (want.has("anomaly-concept")) {
      scores["anomaly-concept"] = await conceptScores(profile.concepts.anomaly);
    }
    if (want.has("textual-inversion")) {
      const shots: Rgb8Image[] = [];
      for (const path of input.shots) shots.push(await loadImage(path));
      scores["textual-inversion"] = await conceptScores(await textualInversionConcept(clip, shots, profile));
    }
  }
  return {
    scores,
    calibrationInputs,
    anomalous,
    fused,
    threshold: profile.meta.threshold,
    profile,
    enrollMs,
    scoreMs: performance.now() - started - enrollMs,
  };
}

/**
 * Plain textual inversion, Table 2's first row: the concept learned from the same shots, start, seed
 * and optimiser settings as c_n*, but with eq. 3's alignment term alone (α = 0), so it learns to
 * depict the parts without being pushed toward "normal".
 *
 * @param clip the model
 * @param shots the decoded shots
 * @param profile the run's profile, whose recorded settings the concept reuses
 * @returns the learned concept
 */
export async function textualInversionConcept(
  clip: ClipModel,
  shots: readonly Rgb8Image[],
  profile: StationProfile,
): Promise<Float32Array> {
  const e = profile.meta.enrollment;
  const { concept } = await learnConcept(
    clip,
    await clip.wordEmbeddings([CONCEPT_INIT_WORD]),
    { normals: await imageEmbeddings(clip, shots) },
    {
      steps: e.steps,
      learningRate: e.learningRate,
      // Adam is nearly invariant to the loss's scale, so with α = 0 only the term's presence matters.
      weights: { alpha: 0, lambda: 1, gamma: e.gamma },
      promptsPerStep: e.promptsPerStep,
      seed: hashSeed(e.seed, "normal-concept"),
      placeholder: CONCEPT_PLACEHOLDER,
      prompts: promptSets(CONCEPT_PLACEHOLDER),
    },
  );
  return concept;
}
