/**
 * Issue 17, item 11: two instances in one queue group with `--jetstream`, one enrollment. The group
 * splits the station's frames between the instances, so the enrolling one collects through a
 * subscription of its own: exactly the shots sent are enough, one job runs, and both instances end
 * with the new profile. Before, about half the frames went to the other instance and the job waited
 * for frames that never came to it.
 */
import assert from "node:assert/strict";
import { startProcessor } from "../../src/stream/processor.ts";
import { decodeEnrollProgress, type EnrollProgressMessage } from "../../src/stream/messages.ts";
import { enrollProgressSubject, framesSubject } from "../../src/stream/subjects.ts";
import { gatherStatus } from "../../src/cli/status.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, enrollAndFeed, Gather, sendFrame, sleep, tinyModel } from "./_fixture.ts";

Deno.test({
  name: "one enrollment across two instances of a queue group collects every frame and installs everywhere",
  ...needsShared,
  async fn() {
    const ns = await setup();
    await using model = await tinyModel();
    const dirs = await Promise.all([0, 1].map(() => Deno.makeTempDir()));
    try {
      const client = await ns.connect("client");
      const opts = { clip: model.clip, log: () => {}, jetstream: true, collectTimeoutMs: 30_000 };
      const a = await startProcessor(await ns.connect("a"), { ...opts, stateDir: dirs[0] });
      const b = await startProcessor(await ns.connect("b"), { ...opts, stateDir: dirs[1] });
      const progress = new Gather<EnrollProgressMessage>(
        client,
        enrollProgressSubject("pair"),
        (m) => decodeEnrollProgress(m.data),
      );
      await client.flush();
      const frames = await Promise.all([0, 1, 2, 3, 4, 5].map(bottle));
      // Exactly the shots: every one must reach the enrolling instance.
      const outcome = await enrollAndFeed(client, "pair", { shots: 6, steps: 1 }, async () => {
        for (const [i, f] of frames.entries()) sendFrame(client, framesSubject("pair"), f, `p${i}`);
        await client.flush();
      });
      assert.equal(outcome.stage, "done", outcome.error);
      assert.equal(outcome.profileVersion, 1);
      assert.equal(new Set(progress.items.map((p) => p.jobId)).size, 1, "exactly one job");
      for (let i = 0; i < 100; i++) {
        const versions = (await gatherStatus(client, 200)).map((s) =>
          s.stations.find((x) => x.station === "pair")?.profileVersion
        );
        if (versions.length === 2 && versions.every((v) => v === 1)) break;
        assert.ok(i < 99, `both instances have v1: ${JSON.stringify(versions)}`);
        await sleep(50);
      }
      await Promise.all([a.stop(), b.stop()]);
      progress.stop();
    } finally {
      await cleanup(ns);
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  },
});
