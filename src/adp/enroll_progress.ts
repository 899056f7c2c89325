/**
 * How far along an enrollment is: its stages in the order they run, each weighted by its share of
 * the time, and the report (stage, overall percent, ETA from the pace so far) the service and the
 * CLI show.
 *
 * @module
 */
import type { SynthMode } from "./synth/mod.ts";

/** Stages in the order they run with procedural pseudo-anomalies. */
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

/**
 * Stages in the order they run when Stable Diffusion makes pseudo-anomalies: its prompts carry the
 * part's concept, so the normal-aware concept is learned first (the anomaly-aware one needs them).
 */
export const SD_ENROLL_STAGES: readonly EnrollStage[] = [
  "features",
  "normal-concept",
  "pseudo-anomalies",
  "anomaly-concept",
  "self-tuning",
  "patch-memory",
  "calibration",
];

/** A progress report. */
export interface EnrollProgress {
  /** The stage running. */
  stage: EnrollStage;
  /** Of the whole enrollment, 0–100. */
  percent: number;
  /** Seconds left, from the pace so far; null before there is a pace. */
  etaSeconds: number | null;
  /** What is going on, for people. */
  message: string;
  /** The concept-learning step just done (concept stages only). */
  step?: number;
  /** The concept-learning steps of the stage. */
  steps?: number;
  /** The loss at `step`. */
  loss?: number;
}

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

/** Reports a stage's progress (`fraction` of that stage, 0–1) as a share of the whole enrollment. */
export type ProgressReporter = (
  stage: EnrollStage,
  fraction: number,
  message: string,
  extra?: Partial<EnrollProgress>,
) => void;

/**
 * The pseudo-anomaly stage's weight with Stable Diffusion: SDEdit of 2·max(16, 4K) images at
 * ⌊steps·strength⌋ UNet runs each is comparable to a concept stage on a GPU and longer on a CPU.
 */
const SD_PSEUDO_WEIGHT = { sd: 40, mix: 20 } as const;

/**
 * A reporter that turns a stage's fraction into an overall percentage and an ETA for `onProgress`.
 *
 * @param onProgress receives the reports
 * @param started `performance.now()` when enrollment began
 * @param synthesizer what makes the pseudo-anomalies: sets the stages' order and weights
 */
export function progressReporter(
  onProgress: ((p: EnrollProgress) => void) | undefined,
  started: number,
  synthesizer: SynthMode = "procedural",
): ProgressReporter {
  const order = synthesizer === "procedural" ? ENROLL_STAGES : SD_ENROLL_STAGES;
  const weight = synthesizer === "procedural"
    ? STAGE_WEIGHT
    : { ...STAGE_WEIGHT, "pseudo-anomalies": SD_PSEUDO_WEIGHT[synthesizer] };
  const total = Object.values(weight).reduce((a, b) => a + b, 0);
  return (stage, fraction, message, extra = {}) => {
    if (!onProgress) return;
    const before = order.slice(0, order.indexOf(stage)).reduce((a, s) => a + weight[s], 0);
    const percent = Math.min(100, (100 * (before + fraction * weight[stage])) / total);
    const elapsed = (performance.now() - started) / 1000;
    const etaSeconds = percent > 2 ? (elapsed * (100 - percent)) / percent : null;
    onProgress({ stage, percent, etaSeconds, message, ...extra });
  };
}
