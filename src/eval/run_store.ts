/**
 * Saved runs: the outcome of each (category, K, seed) run as one JSON file written as soon as the
 * run finishes, atomically (temporary file, then rename), so an interrupted evaluation loses at most
 * the run in progress and `--resume` reuses the others. A saved run carries the settings it was
 * measured under; one measured otherwise is never silently mixed into a table.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { ConfigError } from "../errors.ts";
import type { FusionSpec } from "../adp/mod.ts";
import type { RunIdentity, Variant } from "./protocol.ts";
import type { FeedbackOutcome } from "./_feedback_replay.ts";

/** The metrics of one variant in one run; null where the variant has no map or no verdict. */
export interface RunMetrics {
  /** Image-level AUROC over the test images. */
  imageAuroc: number;
  /** Pixel-level AUROC at the evaluation resolution. */
  pixelAuroc: number | null;
  /** Normalised area under the per-region-overlap curve up to FPR 0.3. */
  aupro: number | null;
  /** Best F1 over all thresholds on image scores. */
  imageF1Max: number;
  /** Best F1 over all thresholds on pixels. */
  pixelF1Max: number | null;
  /** Share of good test images called anomalous at the profile's calibrated threshold. */
  falseRejectRate: number | null;
  /** Share of defective test images called normal at the profile's calibrated threshold. */
  missRate: number | null;
  /** (falseRejectRate + missRate) / 2 at the calibrated threshold (absent in runs saved before it). */
  balancedError?: number | null;
  /** The smallest balanced error any threshold reaches on the test scores. */
  oracleBalancedError?: number | null;
  /** balancedError − oracleBalancedError: what calibration costs against a threshold set on the test set. */
  calibrationGap?: number | null;
  /** The profile's text-branch weight (fused only). */
  textWeight?: number | null;
}

/** One variant's outcome in one run. */
export interface VariantRun {
  /** Its metrics. */
  metrics: RunMetrics;
  /** One image score per test image, in the identity's test order. */
  scores: number[];
}

/** One saved run. */
export interface RunRecord {
  /** Marks the file as a saved run. */
  format: typeof RUN_FORMAT;
  /** The settings the run was measured under; a resume reuses it only when they are the same. */
  identity: RunIdentity;
  /** The shot count. */
  k: number;
  /** The seed of the shot draw. */
  seed: number;
  /** The shots, relative to the category folder. */
  shots: string[];
  /** Labels of the test images, in order. */
  labels: number[];
  /** The profile's calibrated threshold (fused units); null without an enrollment. */
  threshold: number | null;
  /** The profile's fusion of the branches (how much the text branch counts); null without one. */
  fusion: FusionSpec | null;
  /** Each scored variant's metrics and scores. */
  variants: Partial<Record<Variant, VariantRun>>;
  /** How long the run took. */
  durationMs: number;
  /** When it finished (ISO 8601). */
  finishedAt: string;
  /** The test set replayed with operator feedback, one outcome per budget N (with --feedback). */
  feedback?: FeedbackOutcome[];
}

/** Marks a file as a saved run. */
export const RUN_FORMAT = "adp-eval-run/1";

/** Where a run is saved under the output folder. */
export function runPath(out: string, category: string, k: number, seed: number): string {
  return join(out, "runs", category, `k${k}-seed${seed}.json`);
}

/**
 * Writes a run atomically.
 *
 * @param path the run's file
 * @param record the run
 */
export async function saveRun(path: string, record: RunRecord): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeAtomic(path, JSON.stringify(record));
}

/**
 * A saved run, if one exists and was measured under `identity`.
 *
 * @param path the run's file
 * @param identity the settings the current evaluation measures under
 * @returns the run, or undefined when no file is there
 * @throws {ConfigError} when the file is not a saved run, or was measured under other settings
 *   (naming them)
 */
export async function loadRun(path: string, identity: RunIdentity): Promise<RunRecord | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  let record: RunRecord;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Saved run is not JSON: ${path}: remove it to measure the run again`, {
      cause: error,
    });
  }
  if (record?.format !== RUN_FORMAT || typeof record.identity !== "object" || !record.variants) {
    throw new ConfigError(`Saved run is not an ${RUN_FORMAT} file: ${path}`);
  }
  const differ = (Object.keys(identity) as (keyof RunIdentity)[]).filter((key) =>
    JSON.stringify(record.identity[key]) !== JSON.stringify(identity[key])
  );
  if (differ.length) {
    throw new ConfigError(
      `Saved run was measured with other settings (${differ.join(", ")}): ${path}: ` +
        `use another --out, or run without --resume to measure again`,
    );
  }
  return record;
}

/** Writes a text file through a temporary file and a rename, so readers never see half of it. */
export async function writeAtomic(path: string, text: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  if (typeof text === "string") await Deno.writeTextFile(tmp, text);
  else await Deno.writeFile(tmp, text);
  await Deno.rename(tmp, path);
}
