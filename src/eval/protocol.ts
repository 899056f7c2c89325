/**
 * What an evaluation measures: the variants (the paper's Table 1 method, its Table 2 ablations, each
 * branch alone, and the plain patch-matching baseline), the few-shot draw, the pixel geometry, and
 * the settings a saved run must share with the current one to be reused by `--resume`.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { Precision } from "../model/mod.ts";
import { numpyChoice } from "./numpy_choice.ts";
import { sampleShots } from "./datasets.ts";

/** Every variant an evaluation can score, in the order tables list them. */
export const VARIANTS = [
  "fused",
  "text",
  "patch",
  "plain-patch",
  "textual-inversion",
  "normal-concept",
  "anomaly-concept",
] as const;
/** One scored variant. */
export type Variant = typeof VARIANTS[number];

/**
 * The rows of the paper's Table 2, in its order: plain textual inversion, c_n* alone, c_a* alone,
 * and full ADP (the self-tuned prototypes over both concepts; the text branch of the profile).
 */
export const ABLATION_VARIANTS: readonly Variant[] = [
  "textual-inversion",
  "normal-concept",
  "anomaly-concept",
  "text",
];

/** Where a variant's anomaly map comes from: the profile's patch branch, the plain baseline, or none. */
export type MapSource = "profile" | "plain" | null;

/** How each variant scores, for tables and `--help`. */
export const VARIANT_INFO: Readonly<Record<Variant, { title: string; map: MapSource; description: string }>> =
  {
    "fused": {
      title: "ADP fused",
      map: "profile",
      description: "text and patch scores fused as calibrated at enrollment (the product)",
    },
    "text": {
      title: "ADP (text)",
      map: null,
      description: "the text branch alone: eq. 7 against the self-tuned prototypes (ADP)",
    },
    "patch": {
      title: "patch branch",
      map: "profile",
      description: "the profile's patch branch alone",
    },
    "plain-patch": {
      title: "plain patch matching",
      map: "plain",
      description: "the proxy README's baseline: identity view, max patch distance, no text",
    },
    "textual-inversion": {
      title: "textual inversion",
      map: null,
      description: "a concept learned with eq. 3's alignment term only (α = 0)",
    },
    "normal-concept": {
      title: "c_n* only",
      map: null,
      description: "the normal-aware concept c_n* (eq. 3) alone",
    },
    "anomaly-concept": {
      title: "c_a* only",
      map: null,
      description: "the anomaly-aware concept c_a* (eq. 4) alone",
    },
  };

/** Variants that need CLIP and an enrollment. */
export function needsEnrollment(variant: Variant): boolean {
  return variant !== "plain-patch";
}

/** How the K shots are drawn from `train/good`: our seeded generator, or numpy's legacy RandomState. */
export const DRAWS = ["adp", "numpy"] as const;
/** A shot-drawing rule. */
export type Draw = typeof DRAWS[number];

/**
 * The K training images of one run.
 *
 * @param train the sorted training images
 * @param opts shots, seed and rule (`numpy` reproduces `RandomState(seed).choice(n, k, replace=False)`)
 * @returns k distinct paths in draw order
 * @throws {ConfigError} when k exceeds the training images
 */
export function drawShots(train: readonly string[], opts: { k: number; seed: number; draw: Draw }): string[] {
  if (opts.draw === "numpy") return numpyChoice(train.length, opts).map((i) => train[i]);
  return sampleShots(train, opts);
}

/** Pixel metrics' resolution: a square side (masks resized bilinearly, ≥ 128), or each mask's own size. */
export type PixelSize = number | "mask";

/** Everything that decides an evaluation's numbers. */
export interface EvalSettings {
  /** The dataset root holding the category folders (or VisA's split_csv). */
  data: string;
  /** The categories evaluated, by folder (or VisA object) name. */
  categories: string[];
  /** The shot counts K, each evaluated separately. */
  shots: number[];
  /** The seeds of the shot draws; every K is measured once per seed. */
  seeds: number[];
  /** Scored variants; the first is the one the headline figures and plots show. */
  variants: Variant[];
  /** A CLIP checkpoint folder; needed unless only `plain-patch` is scored. */
  model?: string;
  /** A backbone JSON for the patch branch (and the plain baseline) instead of CLIP tokens. */
  backbone?: string;
  /** Adam steps per concept; enrollment's default when absent. */
  steps?: number;
  /** Add the category's name as ADP_ℓ's label prompts. @default false */
  labelPrompts: boolean;
  /** How shots are drawn: `adp` (sampleShots) or `numpy` (RandomState(seed).choice, as in the paper's code). */
  draw: Draw;
  /** The resolution of the pixel metrics: a square side, or `mask` for each mask's own size. */
  pixelSize: PixelSize;
  /** Score only this many test images per category (evenly spaced, both classes kept). */
  limit?: number;
  /** Replay the test set with an operator correcting the first N mistakes, for each N (`_feedback_replay.ts`). */
  feedback?: number[];
  /** The vision graph's precision, and the backbone's when `int8` (src/model/precision.ts). @default "fp32" */
  precision?: Precision;
}

/** What a saved run must match to be reused: the settings plus what identifies model and data. */
export interface RunIdentity {
  /** The version of the protocol's code that measured the run. */
  protocol: number;
  /** The dataset root, absolute. */
  data: string;
  /** The category. */
  category: string;
  /** The scored variants. */
  variants: Variant[];
  /** How the shots were drawn. */
  draw: Draw;
  /** The resolution of the pixel metrics. */
  pixelSize: PixelSize;
  /** Adam steps per concept; null for enrollment's default. */
  steps: number | null;
  /** Whether prompts named the category. */
  labelPrompts: boolean;
  /** Test images per category; null for all. */
  limit: number | null;
  /** sha256 of the CLIP weights, when CLIP is used. */
  model: string | null;
  /** sha256 of the backbone's ONNX file, when one is used. */
  backbone: string | null;
  /** The scored test images, relative to the category folder. */
  test: string[];
  /** The feedback budgets replayed; absent without --feedback. */
  feedback?: number[];
  /** The precision; absent for fp32 (so runs saved before it was recorded still resume). */
  precision?: Precision;
}

/** Bumped when the way a run is measured changes, so old saved runs are not mixed in. */
export const PROTOCOL_VERSION = 1;

/**
 * Evenly spaced test samples, at most `limit`, from a list sorted with the normals first: the
 * first and last are always taken, so both classes stay represented.
 *
 * @param test the category's test samples
 * @param limit how many to keep (at least 2)
 * @returns the kept samples in their original order
 * @throws {ConfigError} when the limit is below 2 or leaves a class empty
 */
export function limitTest<T extends { label: 0 | 1 }>(test: readonly T[], limit: number | undefined): T[] {
  if (limit === undefined || limit >= test.length) return [...test];
  if (!Number.isInteger(limit) || limit < 2) {
    throw new ConfigError(`Test limit must be an integer of at least 2: got ${limit}`);
  }
  const picked = Array.from(
    { length: limit },
    (_, i) => test[Math.round((i * (test.length - 1)) / (limit - 1))],
  );
  if (!picked.some((s) => s.label === 0) || !picked.some((s) => s.label === 1)) {
    throw new ConfigError(`Test limit ${limit} leaves one class without images: raise --limit`);
  }
  return picked;
}

/** Checks the settings' lists before anything runs. */
export function checkSettings(settings: EvalSettings): void {
  const fail = (what: string) => new ConfigError(what);
  if (!settings.categories.length) throw fail("Evaluation needs at least one category");
  if (new Set(settings.categories).size !== settings.categories.length) {
    throw fail("A category is listed twice");
  }
  if (!settings.shots.length || settings.shots.some((k) => !Number.isInteger(k) || k < 1 || k > 16)) {
    throw fail(`Shots must be integers from 1 to 16: got ${settings.shots.join(",")}`);
  }
  if (!settings.seeds.length || settings.seeds.some((s) => !Number.isInteger(s) || s < 0 || s > 0xffffffff)) {
    throw fail(`Seeds must be integers from 0 to 2^32 - 1: got ${settings.seeds.join(",")}`);
  }
  if (new Set(settings.shots).size !== settings.shots.length) throw fail("A shot count is listed twice");
  if (new Set(settings.seeds).size !== settings.seeds.length) throw fail("A seed is listed twice");
  if (!settings.variants.length) throw fail("Evaluation needs at least one variant");
  for (const v of settings.variants) {
    if (!VARIANTS.includes(v)) throw fail(`Variant is unknown: ${v} (choose from ${VARIANTS.join(", ")})`);
  }
  if (settings.variants.some(needsEnrollment) && !settings.model) {
    throw fail(`Variants ${settings.variants.filter(needsEnrollment).join(", ")} need a CLIP model folder`);
  }
  if (settings.pixelSize !== "mask" && !(Number.isInteger(settings.pixelSize) && settings.pixelSize >= 8)) {
    throw fail(`Pixel size must be "mask" or an integer of at least 8: got ${settings.pixelSize}`);
  }
}
