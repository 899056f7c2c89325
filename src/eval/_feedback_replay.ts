/**
 * `adp eval --feedback N,…`: the test set replayed as a stream in a fixed shuffled order (seeded),
 * the operator — the ground truth — correcting the first N mistakes the station makes (a false
 * reject labelled good, a miss labelled defect) with the same pure function the service applies
 * (`applyFeedback`), and the false rejects and misses of the frames after the N-th correction,
 * before (the enrolled profile) and after (the profile the corrections made). One replay serves
 * every N: the corrections up to N are the same whatever comes after.
 *
 * @module
 */
import type { Rgb8Image } from "../image/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import { applyFeedback, createScorer, type Scorer, type StationProfile, VISION_BATCH } from "../adp/mod.ts";
import { Random } from "../random.ts";
import { loadImage, type TestSample } from "./datasets.ts";

/** Error rates on the frames after the corrections; null where the rest holds no frame of a class. */
export interface RestRates {
  /** Good frames rejected, as a share of the rest's good frames. */
  falseRejectRate: number | null;
  /** Defective frames passed, as a share of the rest's defective ones. */
  missRate: number | null;
}

/** One budget's outcome in one run. */
export interface FeedbackOutcome {
  /** The budget N: corrections the operator makes at most. */
  budget: number;
  /** Corrections made (fewer than N when the stream ran out of mistakes). */
  corrections: number;
  /** Of which false rejects labelled good, and misses labelled defect. */
  goods: number;
  defects: number;
  /** Frames after the last correction: the ones the rates are measured on. */
  rest: number;
  /** The threshold in force after the corrections (fused units). */
  threshold: number;
  /** The rest's rates with the enrolled profile. */
  before: RestRates;
  /** The rest's rates with the profile the corrections made. */
  after: RestRates;
}

/** What a replay needs. */
export interface FeedbackReplayInput {
  clip: ClipModel;
  /** The enrolled profile. */
  profile: StationProfile;
  test: readonly TestSample[];
  /** 1 = defective. */
  labels: ArrayLike<number>;
  /** The enrolled profile's fused score of every test image. */
  scores: ArrayLike<number>;
  /** Seeds the stream's order. */
  seed: number;
  /** The budgets N. */
  budgets: readonly number[];
}

/** Replays the test set with feedback; one outcome per budget, in the order given. */
export async function replayWithFeedback(input: FeedbackReplayInput): Promise<FeedbackOutcome[]> {
  const { clip, test, labels, budgets } = input;
  const n = test.length;
  const order = Random.forStream(input.seed, "feedback-order").sample(n, n);
  const initial = Float64Array.from(input.scores);
  const current = Float64Array.from(input.scores);
  let profile = input.profile;
  let scorer: Scorer = createScorer(clip, profile);
  const most = Math.max(...budgets);
  const outcomes = new Map<number, FeedbackOutcome>();
  let goods = 0, defects = 0, last = -1;
  const checkpoint = (budget: number) => {
    const rest = order.slice(last + 1);
    outcomes.set(budget, {
      budget,
      corrections: goods + defects,
      goods,
      defects,
      rest: rest.length,
      threshold: profile.meta.threshold,
      before: restRates(rest, initial, labels, input.profile.meta.threshold),
      after: restRates(rest, current, labels, profile.meta.threshold),
    });
  };
  try {
    for (let p = 0; p < n && goods + defects < most; p++) {
      const i = order[p];
      const anomalous = current[i] >= profile.meta.threshold;
      if (anomalous === (labels[i] === 1)) continue;
      const label = labels[i] === 1 ? "defect" : "good";
      const image = await loadImage(test[i].path);
      const [seen] = await scorer.scoreRgb([image]);
      const features = label === "good" ? (await scorer.memoryFeatures([image]))[0] : undefined;
      profile = applyFeedback(
        profile,
        label,
        { frameId: String(i), patch: seen.patchScore, text: seen.textScore, features },
        { at: new Date().toISOString(), by: "eval" },
      );
      if (label === "good") {
        goods++;
        await scorer.dispose();
        scorer = createScorer(clip, profile);
        await rescore(scorer, test, order.slice(p + 1), current);
      } else defects++;
      last = p;
      if (budgets.includes(goods + defects)) checkpoint(goods + defects);
    }
  } finally {
    await scorer.dispose();
  }
  for (const b of budgets) if (!outcomes.has(b)) checkpoint(b);
  return budgets.map((b) => outcomes.get(b)!);
}

/** Scores the frames `which` with `scorer` into `into`. */
async function rescore(
  scorer: Scorer,
  test: readonly TestSample[],
  which: readonly number[],
  into: Float64Array,
): Promise<void> {
  for (let start = 0; start < which.length; start += VISION_BATCH) {
    const batch = which.slice(start, start + VISION_BATCH);
    const images: Rgb8Image[] = [];
    for (const i of batch) images.push(await loadImage(test[i].path));
    (await scorer.scoreRgb(images)).forEach((s, j) => into[batch[j]] = s.score);
  }
}

function restRates(
  rest: readonly number[],
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold: number,
): RestRates {
  let good = 0, bad = 0, rejected = 0, missed = 0;
  for (const i of rest) {
    if (labels[i] === 1) {
      bad++;
      if (!(scores[i] >= threshold)) missed++;
    } else {
      good++;
      if (scores[i] >= threshold) rejected++;
    }
  }
  return { falseRejectRate: good ? rejected / good : null, missRate: bad ? missed / bad : null };
}

/** Means over seeds of one category, K and budget. */
export interface FeedbackSummaryRow {
  category: string;
  k: number;
  budget: number;
  /** Seeds averaged. */
  runs: number;
  /** Mean corrections made, and of which labelled good. */
  corrections: number;
  goods: number;
  before: RestRates;
  after: RestRates;
}

/** Mean over seeds of each (category, K, budget), from the runs' outcomes. */
export function summarizeFeedback(
  runs: readonly { category: string; k: number; outcomes: readonly FeedbackOutcome[] }[],
): FeedbackSummaryRow[] {
  const groups = new Map<string, { category: string; k: number; outcomes: FeedbackOutcome[] }>();
  for (const r of runs) {
    for (const o of r.outcomes) {
      const key = `${r.category}\u0000${r.k}\u0000${o.budget}`;
      const g = groups.get(key) ?? { category: r.category, k: r.k, outcomes: [] };
      g.outcomes.push(o);
      groups.set(key, g);
    }
  }
  const avg = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  return [...groups.values()].map(({ category, k, outcomes }) => ({
    category,
    k,
    budget: outcomes[0].budget,
    runs: outcomes.length,
    corrections: avg(outcomes.map((o) => o.corrections))!,
    goods: avg(outcomes.map((o) => o.goods))!,
    before: {
      falseRejectRate: avg(outcomes.map((o) => o.before.falseRejectRate)),
      missRate: avg(outcomes.map((o) => o.before.missRate)),
    },
    after: {
      falseRejectRate: avg(outcomes.map((o) => o.after.falseRejectRate)),
      missRate: avg(outcomes.map((o) => o.after.missRate)),
    },
  }));
}

/** The summary as a table of report_text.ts (not imported: the run records name this module): false rejects / misses on the rest, before → after. */
export function feedbackTable(rows: readonly FeedbackSummaryRow[]): { title: string; rows: string[][] } {
  const pct = (x: number | null) => (x === null ? "–" : `${(100 * x).toFixed(1)}%`);
  return {
    title:
      "Operator feedback (--feedback): false rejects / misses on the frames after the first N corrections, " +
      "enrolled profile → corrected profile (means over seeds)",
    rows: [
      ["category", "K", "N", "corrections (good)", "false rejects", "misses"],
      ...rows.map((r) => [
        r.category,
        String(r.k),
        String(r.budget),
        `${r.corrections.toFixed(1)} (${r.goods.toFixed(1)})`,
        `${pct(r.before.falseRejectRate)} → ${pct(r.after.falseRejectRate)}`,
        `${pct(r.before.missRate)} → ${pct(r.after.missRate)}`,
      ]),
    ],
  };
}
