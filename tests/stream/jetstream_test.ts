/**
 * With `--jetstream`: anomaly events kept in a stream and de-duplicated by `Nats-Msg-Id`, heat maps
 * in an object store bucket, profiles shared between instances through another bucket, and one
 * enrollment per station across the whole group.
 */
import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { Image } from "imagescript";
import { startProcessor } from "../../src/stream/processor.ts";
import {
  type AnomalyMessage,
  decodeAnomaly,
  decodeEnrollProgress,
  decodeEnrollReply,
  decodeResult,
  type EnrollProgressMessage,
  type EnrollReply,
  type ResultMessage,
} from "../../src/stream/messages.ts";
import {
  anomalyMsgId,
  enrollProgressSubject,
  enrollSubject,
  framesSubject,
  Header,
  JetStreamName,
} from "../../src/stream/subjects.ts";
import { gatherStatus } from "../../src/cli/status.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, enrollAndFeed, Gather, sendFrame, sleep, stateDirWith, tinyModel } from "./_fixture.ts";

const quiet = () => {};

Deno.test({
  name: "anomaly events go to a JetStream stream once per Nats-Msg-Id, heat maps to an object store",
  ...needsShared,
  async fn() {
    const ns = await setup();
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { hot: { threshold: -1e6 } });
    try {
      const client = await ns.connect("client");
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: quiet,
        jetstream: true,
      });
      const anomalies = new Gather<AnomalyMessage>(client, "adp.anomalies.hot", (m) => decodeAnomaly(m.data));
      await client.flush();
      // The same frame twice (a camera retrying), then another.
      sendFrame(client, framesSubject("hot"), await bottle(11), "dup-1");
      sendFrame(client, framesSubject("hot"), await bottle(11), "dup-1");
      sendFrame(client, framesSubject("hot"), await bottle(12), "f-2");
      await anomalies.count(3);
      await processor.stop();
      anomalies.stop();

      const jsm = await jetstreamManager(client);
      const info = await jsm.streams.info(JetStreamName.anomalyStream);
      assert.equal(info.state.messages, 2, "the retried frame is stored once");
      const first = await jsm.streams.getMessage(JetStreamName.anomalyStream, { seq: 1 });
      assert.equal(first!.header.get(Header.msgId), anomalyMsgId("hot", "dup-1"));
      assert.equal(first!.header.get(Header.frameId), "dup-1");
      assert.equal(first!.json<AnomalyMessage>().frameId, "dup-1");
      // The same id published again by anyone is still refused as a duplicate.
      const again = await jetstream(client).publish("adp.anomalies.hot", "x", {
        msgID: anomalyMsgId("hot", "f-2"),
      });
      assert.equal(again.duplicate, true);

      const event = anomalies.items.find((a) => a.frameId === "f-2")!;
      assert.deepEqual(
        { store: event.heatmap?.store, bucket: event.heatmap?.bucket, key: event.heatmap?.key },
        { store: "object-store", bucket: JetStreamName.heatmapBucket, key: "hot/f-2.png" },
      );
      const bucket = await new Objm(client).open(JetStreamName.heatmapBucket);
      const png = await bucket.getBlob(event.heatmap!.key);
      assert.equal((await Image.decode(png!)).width, 512);
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "instances of a queue group share profiles through the object store: enrollment, threshold, delete",
  ...needsShared,
  async fn() {
    const ns = await setup();
    await using model = await tinyModel();
    const dirs = await Promise.all([0, 1, 2].map(() => Deno.makeTempDir()));
    try {
      const client = await ns.connect("client");
      const opts = { clip: model.clip, log: quiet, jetstream: true };
      const a = await startProcessor(await ns.connect("a"), { ...opts, stateDir: dirs[0] });
      const b = await startProcessor(await ns.connect("b"), { ...opts, stateDir: dirs[1] });
      const results = new Gather<ResultMessage>(client, "adp.results.shared", (m) => decodeResult(m.data));
      await client.flush();
      const outcome = await enrollAndFeed(client, "shared", { shots: 2, steps: 1 }, async (ended) => {
        // The frames are split between the instances: send until the enrolling one has its two.
        for (let i = 0; !ended() && i < 40; i++) {
          sendFrame(client, framesSubject("shared"), await bottle(i % 8), `s${i}`);
          await sleep(50);
        }
      });
      assert.equal(outcome.profileVersion, 1, outcome.error);

      const versions = async () =>
        (await gatherStatus(client, 200)).map((s) =>
          s.stations.find((x) => x.station === "shared")?.profileVersion
        );
      const converge = async (check: (v: unknown[]) => boolean, what: string) => {
        for (let i = 0; i < 50; i++) {
          if (check(await versions())) return;
        }
        assert.fail(`instances did not converge on ${what}: ${JSON.stringify(await versions())}`);
      };
      await converge((v) => v.length === 2 && v.every((x) => x === 1), "v1");

      // A new instance with an empty state dir starts with the shared profile.
      const c = await startProcessor(await ns.connect("c"), { ...opts, stateDir: dirs[2] });
      assert.equal(c.status().stations.find((s) => s.station === "shared")?.profileVersion, 1);

      const set = await client.request(
        "adp.svc.threshold.set",
        JSON.stringify({ station: "shared", threshold: -1e6 }),
      );
      assert.equal(set.json<{ threshold: number }>().threshold, -1e6);
      const thresholds = async () =>
        (await gatherStatus(client, 200)).map((s) =>
          s.stations.find((x) => x.station === "shared")?.threshold
        );
      for (let i = 0; i < 50 && !(await thresholds()).every((t) => t === -1e6); i++) await sleep(20);
      assert.deepEqual(await thresholds(), [-1e6, -1e6, -1e6]);
      results.items.length = 0;
      for (let i = 0; i < 6; i++) sendFrame(client, framesSubject("shared"), await bottle(20 + i), `t${i}`);
      await results.count(6);
      assert.ok(results.items.every((r) => r.anomalous === true && r.threshold === -1e6));

      const del = await client.request("adp.svc.profiles.delete", JSON.stringify({ station: "shared" }));
      // The threshold change made v2 (the history keeps v1).
      assert.deepEqual(del.json(), { station: "shared", deleted: true, version: 2 });
      await converge((v) => v.length === 3 && v.every((x) => x === null), "no profile");
      await Promise.all([a.stop(), b.stop(), c.stop()]);
      results.stop();
    } finally {
      await cleanup(ns);
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  },
});

Deno.test({
  name: "a station enrolls on one instance at a time across instances (JetStream lock)",
  ...needsShared,
  async fn() {
    const ns = await setup();
    await using model = await tinyModel();
    const dirs = await Promise.all([0, 1].map(() => Deno.makeTempDir()));
    try {
      const client = await ns.connect("client");
      const opts = { clip: model.clip, log: quiet, jetstream: true, collectTimeoutMs: 800 };
      // Different queue groups: both instances receive the request, only one may take the job.
      const a = await startProcessor(await ns.connect("a"), { ...opts, stateDir: dirs[0], queueGroup: "g1" });
      const b = await startProcessor(await ns.connect("b"), { ...opts, stateDir: dirs[1], queueGroup: "g2" });
      const progress = new Gather<EnrollProgressMessage>(
        client,
        enrollProgressSubject("locked"),
        (m) => decodeEnrollProgress(m.data),
      );
      await client.flush();
      const replies: EnrollReply[] = [];
      const iter = await client.requestMany(enrollSubject("locked"), '{"shots":3}', {
        strategy: "count",
        maxMessages: 2,
        maxWait: 3000,
      });
      for await (const m of iter) replies.push(decodeEnrollReply(m.data));
      assert.equal(replies.length, 2);
      const ok = replies.filter((r) => r.ok);
      const refused = replies.filter((r) => !r.ok);
      assert.equal(ok.length, 1);
      assert.equal(refused.length, 1);
      const refusal = refused[0] as Extract<EnrollReply, { ok: false }>;
      assert.equal(refusal.code, "already-enrolling");
      assert.match(refusal.error, /already enrolling on another instance/);
      // No frames come: the job times out, says so, and frees the lock for the next request.
      const outcome = (await progress.until((p) => p.some((x) => x.done))).at(-1)!;
      assert.equal(outcome.stage, "failed");
      assert.match(outcome.error!, /Collected 0 of 3 frames of locked/);
      await sleep(100);
      const next = await client.requestMany(enrollSubject("locked"), '{"shots":3}', {
        strategy: "count",
        maxMessages: 2,
        maxWait: 3000,
      });
      const again: EnrollReply[] = [];
      for await (const m of next) again.push(decodeEnrollReply(m.data));
      assert.equal(again.filter((r) => r.ok).length, 1, JSON.stringify(again));
      await Promise.all([a.stop(), b.stop()]);
      progress.stop();
    } finally {
      await cleanup(ns);
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  },
});
