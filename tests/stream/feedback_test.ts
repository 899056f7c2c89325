/**
 * Operator feedback against a real nats-server and a real service: a false reject labelled good
 * (through `adp feedback`) is scored below the new threshold, every other verdict of the known stream
 * changes only as the pure function predicts, a burst of mislabelled defects stops at the safeguard's
 * floor, and unknown frames, stations and malformed requests get clear errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { applyFeedback, feedbackThreshold } from "../../src/adp/feedback.ts";
import { loadProfile, type StationProfile } from "../../src/adp/profile.ts";
import { createScorer } from "../../src/adp/scorer.ts";
import { decodeImage } from "../../src/image/mod.ts";
import { requestFeedback } from "../../src/stream/feedback.ts";
import { RequestRefusedError } from "../../src/stream/errors.ts";
import { decodeResult, type ResultMessage } from "../../src/stream/messages.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import { requestJson } from "../../src/stream/service_client.ts";
import { feedbackSubject, framesSubject, resultsSubject } from "../../src/stream/subjects.ts";
import type { ClipModel } from "../../src/model/mod.ts";
import { runCli } from "../_cli.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { bottle, Gather, sendFrame, stateDirWith, tinyModel } from "./_fixture.ts";

const STATION = "line-fb";
const FRAMES = [4, 5, 6, 7, 8, 9, 10, 11]; // good bottles the profile was not enrolled on

/** What the profile predicts for `frames`: each one's branch scores and verdict, scored alone. */
async function predict(clip: ClipModel, profile: StationProfile, frames: number[]) {
  const scorer = createScorer(clip, profile);
  try {
    return await scorer.score(await Promise.all(frames.map(bottle)));
  } finally {
    await scorer.dispose();
  }
}

Deno.test({
  name:
    "adp.feedback: a good-labelled false reject passes, the rest follows the pure function, bursts stop at the floor",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const backbone = sharedPath("models/proxy/backbone.json");
    const stateDir = await stateDirWith(model.clip, { [STATION]: { backbone } });
    const profilePath = join(stateDir, "profiles", `${STATION}.safetensors`);
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, { clip: model.clip, stateDir, log: () => {} });
      const results = new Gather<ResultMessage>(client, resultsSubject(STATION), (m) => decodeResult(m.data));
      await client.flush();
      const pass = async (tag: string) => {
        const from = results.items.length;
        for (const i of FRAMES) sendFrame(client, framesSubject(STATION), await bottle(i), `${tag}-${i}`);
        await results.count(from + FRAMES.length, 60_000);
        return new Map(results.items.slice(from).map((r) => [r.frameId, r]));
      };
      // The operating point between the good frames' scores: about half of them are false rejects.
      const first = await pass("a");
      const scores = [...first.values()].map((r) => r.score!).sort((a, b) => a - b);
      await processor.setThreshold({ station: STATION, threshold: (scores[3] + scores[4]) / 2 });
      const before = await loadProfile(profilePath);
      const stream = await pass("b");
      const rejected = FRAMES.filter((i) => stream.get(`b-${i}`)!.anomalous);
      assert.ok(rejected.length >= 2, `false rejects to correct: ${rejected}`);
      const target = rejected[rejected.length - 1];

      // The pure function's prediction, from the frame as the profile in force scores it.
      const scorer = createScorer(model.clip, before);
      const image = await decodeImage(await bottle(target));
      const [seen] = await scorer.scoreRgb([image]);
      const [features] = await scorer.memoryFeatures([image]);
      await scorer.dispose();
      const expected = applyFeedback(before, "good", {
        frameId: `b-${target}`,
        patch: seen.patchScore,
        text: seen.textScore,
        features,
      }, { at: new Date().toISOString() });

      const cli = await runCli([
        "feedback",
        "--nats",
        ns.url,
        "--station",
        STATION,
        "--frame",
        `b-${target}`,
        "--label",
        "good",
        "--by",
        "tester",
        "--json",
      ]);
      assert.equal(cli.code, 0, cli.err);
      const reply = JSON.parse(cli.out);
      assert.equal(reply.profileVersion, before.meta.version + 1);
      assert.ok(
        Math.abs(reply.threshold - expected.meta.threshold) < 1e-4,
        `${reply.threshold} vs predicted`,
      );
      const saved = await loadProfile(profilePath);
      assert.deepEqual(
        { ...saved.meta.revision, at: undefined },
        {
          kind: "feedback",
          at: undefined,
          by: "tester",
          fromVersion: before.meta.version,
          frameId: `b-${target}`,
          label: "good",
        },
      );
      assert.equal(saved.meta.patch.count, expected.meta.patch.count);

      // The known stream again, now under the new version: the corrected frame passes, and every
      // verdict is what the predicted profile gives.
      const after = await pass("c");
      const predicted = await predict(model.clip, expected, FRAMES);
      FRAMES.forEach((i, j) => {
        const r = after.get(`c-${i}`)!;
        assert.equal(r.profileVersion, reply.profileVersion);
        assert.ok(Math.abs(r.score! - predicted[j].score) <= 1e-3 * (1 + Math.abs(r.score!)), `frame ${i}`);
        assert.ok(r.score! <= stream.get(`b-${i}`)!.score! + 1e-3, "a larger memory never raises a score");
        if (Math.abs(r.score! - r.threshold!) > 1e-3) {
          assert.equal(r.anomalous, predicted[j].anomalous, `frame ${i}`);
        }
      });
      assert.equal(after.get(`c-${target}`)!.anomalous, false, "the corrected false reject passes");
      assert.ok(after.get(`c-${target}`)!.score! < reply.threshold);

      // A burst of good frames labelled defect (the corrected one among them, scoring far below every
      // good part): the threshold stops at the known goods' 95% point (or the shots' ceiling, if lower).
      const floor = feedbackThreshold(saved.meta).floor;
      let last = reply.threshold;
      for (const i of FRAMES) {
        const r = await requestFeedback(client, STATION, { frameId: `c-${i}`, label: "defect" });
        assert.ok(r.threshold >= floor - 1e-9, `threshold ${r.threshold} under the floor ${floor}`);
        last = r.threshold;
      }
      const lowest = Math.min(...FRAMES.map((i) => after.get(`c-${i}`)!.score!));
      assert.ok(lowest < floor - 0.1, `unguarded, the lowest "defect" (${lowest}) would set the threshold`);
      assert.ok(Math.abs(last - floor) < 1e-9, `held at the floor: ${last} vs ${floor}`);

      // Refusals: one clear sentence each.
      await assert.rejects(
        requestFeedback(client, STATION, { frameId: "never-seen", label: "good" }),
        (e) =>
          e instanceof RequestRefusedError && e.status === 404 && /never-seen .* is not held/.test(e.message),
      );
      await assert.rejects(
        requestFeedback(client, "no-such-line", { frameId: "c-4", label: "good" }),
        (e) => e instanceof RequestRefusedError && /Station no-such-line has no profile/.test(e.message),
      );
      await assert.rejects(
        requestJson(client, feedbackSubject(STATION), { frameId: "c-4", label: "fine" }),
        (e) => e instanceof RequestRefusedError && e.status === 400 && /label must be/.test(e.message),
      );
      const unknown = await runCli([
        "feedback",
        "--nats",
        ns.url,
        "--station",
        STATION,
        "--frame",
        "gone",
        "--label",
        "defect",
      ]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.err, /Frame gone of line-fb is not held/);
      results.stop();
      await processor.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
