/**
 * Issue 17, item 11: two instances in one queue group with `--jetstream`, one enrollment. The group
 * splits the station's frames between the instances, so the enrolling one collects through a
 * subscription of its own: exactly the shots sent are enough, one job runs, and both instances end
 * with the new profile. Before, about half the frames went to the other instance and the job waited
 * for frames that never came to it. The same on a three-node cluster, each instance on its own node.
 */
import assert from "node:assert/strict";
import { startProcessor } from "../../src/stream/processor.ts";
import { decodeEnrollProgress, type EnrollProgressMessage } from "../../src/stream/messages.ts";
import { enrollProgressSubject, framesSubject } from "../../src/stream/subjects.ts";
import { gatherStatus } from "../../src/cli/status.ts";
import type { NatsConnection } from "@nats-io/transport-node";
import { cleanup, cleanupCluster, setup, setupCluster } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, enrollAndFeed, Gather, sendFrame, sleep, tinyModel } from "./_fixture.ts";

/** Two instances (on `urls[0]` and `urls[1]`), a client on `urls[2]`: one enrollment, installed on both. */
async function enrollAcrossInstances(connect: (i: number, name: string) => Promise<NatsConnection>) {
  await using model = await tinyModel();
  const dirs = await Promise.all([0, 1].map(() => Deno.makeTempDir()));
  try {
    const client = await connect(2, "client");
    const opts = { clip: model.clip, log: () => {}, jetstream: true, collectTimeoutMs: 30_000 };
    const a = await startProcessor(await connect(0, "a"), { ...opts, stateDir: dirs[0] });
    const b = await startProcessor(await connect(1, "b"), { ...opts, stateDir: dirs[1] });
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
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
}

Deno.test({
  name: "one enrollment across two instances of a queue group collects every frame and installs everywhere",
  ...needsShared,
  async fn() {
    const ns = await setup();
    try {
      await enrollAcrossInstances((_i, name) => ns.connect(name));
    } finally {
      await cleanup(ns);
    }
  },
});

Deno.test({
  name: "the same on a three-node JetStream cluster, each instance and the client on its own node",
  ...needsShared,
  async fn() {
    const cluster = await setupCluster(3);
    try {
      await enrollAcrossInstances((i, name) => cluster.nodes[i].connect(name));
    } finally {
      await cleanupCluster(cluster);
    }
  },
});
