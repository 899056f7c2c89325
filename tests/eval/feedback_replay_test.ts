/**
 * `adp eval --feedback`'s replay on a slice of MVTec bottle: the stream's order is the seeded
 * shuffle, the operator corrects exactly the first mistakes, each with the service's pure function,
 * and the rates are measured on the frames after the last correction.
 */
import assert from "node:assert/strict";
import { applyFeedback } from "../../src/adp/feedback.ts";
import { createScorer } from "../../src/adp/scorer.ts";
import { decodeImage } from "../../src/image/mod.ts";
import { replayWithFeedback } from "../../src/eval/_feedback_replay.ts";
import type { TestSample } from "../../src/eval/datasets.ts";
import { Random } from "../../src/random.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { bottleProfile, tinyModel } from "../stream/_fixture.ts";

const sample = (defect: string, i: number): TestSample => ({
  path: sharedPath(`datasets/mvtec-ad/bottle/test/${defect}/${String(i).padStart(3, "0")}.png`),
  defect,
  label: defect === "good" ? 0 : 1,
});

Deno.test({
  name: "replayWithFeedback corrects the first mistakes of the seeded stream with applyFeedback",
  ...needsShared,
  async fn() {
    await using model = await tinyModel();
    const profile = await bottleProfile(model.clip, 1, sharedPath("models/proxy/backbone.json"));
    const test = [0, 1, 2, 3, 4, 5].map((i) => sample("good", i)).concat(
      [0, 1, 2, 3].map((i) => sample("broken_small", i)),
    );
    const labels = test.map((s) => s.label);
    const scorer = createScorer(model.clip, profile);
    const images = await Promise.all(test.map(async (s) => decodeImage(await Deno.readFile(s.path))));
    const first = await scorer.scoreRgb(images);
    // A threshold inside the good parts' scores: the stream holds false rejects to correct.
    const goods = first.filter((_, i) => !labels[i]).map((s) => s.score).sort((a, b) => a - b);
    profile.meta.threshold = (goods[2] + goods[3]) / 2;
    const scores = first.map((s) => s.score);
    const seed = 3;
    const outcomes = await replayWithFeedback({
      clip: model.clip,
      profile,
      test,
      labels,
      scores,
      seed,
      budgets: [1, 50],
    });

    // The first mistake of the stream, corrected by hand with the same function.
    const order = Random.forStream(seed, "feedback-order").sample(test.length, test.length);
    const p = order.findIndex((i) => (scores[i] >= profile.meta.threshold) !== (labels[i] === 1));
    const i = order[p];
    const label = labels[i] ? "defect" : "good";
    const features = label === "good" ? (await scorer.memoryFeatures([images[i]]))[0] : undefined;
    const expected = applyFeedback(profile, label, {
      frameId: String(i),
      patch: first[i].patchScore,
      text: first[i].textScore,
      features,
    }, { at: "" });
    await scorer.dispose();

    const [one, all] = outcomes;
    assert.equal(one.corrections, 1);
    assert.equal(one.goods + one.defects, 1);
    assert.equal(one.goods, label === "good" ? 1 : 0);
    assert.equal(one.rest, test.length - p - 1);
    assert.ok(
      Math.abs(one.threshold - expected.meta.threshold) < 1e-4,
      `${one.threshold} vs ${expected.meta.threshold}`,
    );
    const rest = order.slice(p + 1), restGoods = rest.filter((j) => !labels[j]);
    const rejected = restGoods.filter((j) => scores[j] >= profile.meta.threshold).length;
    assert.equal(one.before.falseRejectRate, restGoods.length ? rejected / restGoods.length : null);
    // A budget larger than the stream's mistakes: every mistake corrected, the rates after the last.
    assert.ok(all.corrections >= 1 && all.corrections < 50);
    assert.equal(all.rest + all.corrections <= test.length, true);
    assert.equal(profile.meta.version, 1, "the enrolled profile is left as it was");
  },
});
