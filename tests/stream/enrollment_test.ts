/**
 * Enrollment over the bus: acknowledgement, progress, hot swap while every station keeps being
 * scored, refusals (second request, malformed requests, unknown frame ids), and failures that leave
 * the previous profile in force.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadProfile } from "../../src/adp/profile.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import {
  decodeEnrollProgress,
  decodeEnrollReply,
  decodeResult,
  type EnrollProgressMessage,
  type EnrollReply,
  type ResultMessage,
} from "../../src/stream/messages.ts";
import {
  enrollProgressSubject,
  enrollSubject,
  framesSubject,
  RESULTS_WILDCARD,
} from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { bottle, Gather, sendFrame, sleep, stateDirWith, tinyModel } from "./_fixture.ts";

const quiet = () => {};

async function ask(nc: NatsConnection, station: string, body: string | Uint8Array): Promise<EnrollReply> {
  const subject = station.startsWith("adp.") ? station : enrollSubject(station);
  return decodeEnrollReply((await nc.request(subject, body, { timeout: 5000 })).data);
}

Deno.test({
  name: "enrollment reports progress, swaps profile v2 in while every station keeps being scored",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { "line-1": { version: 1 }, other: {} });
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, { clip: model.clip, stateDir, log: quiet });
      const results = new Gather<ResultMessage>(client, RESULTS_WILDCARD, (m) => decodeResult(m.data));
      const progress = new Gather<EnrollProgressMessage>(
        client,
        enrollProgressSubject("line-1"),
        (m) => decodeEnrollProgress(m.data),
      );
      await client.flush();

      const reply = await ask(
        client,
        "line-1",
        JSON.stringify({ shots: 4, steps: 2, seed: 3, label: "bottle" }),
      );
      assert.equal(reply.ok, true);
      if (!reply.ok) return;
      assert.equal(reply.source, "next-frames");
      const second = await ask(client, "line-1", JSON.stringify({ shots: 4 }));
      assert.deepEqual(second.ok, false);
      if (!second.ok) {
        assert.equal(second.code, "already-enrolling");
        assert.match(second.error, new RegExp(`already enrolling \\(job ${reply.jobId}\\)`));
      }

      // Two cameras keep publishing through the whole enrollment.
      let sent = 0;
      let stop = false;
      const camera = (async () => {
        while (!stop) {
          sendFrame(client, framesSubject("line-1"), await bottle(4 + (sent % 8)), `l1-${sent}`);
          sendFrame(client, framesSubject("other"), await bottle(12 + (sent % 8)), `o-${sent}`);
          sent++;
          await sleep(150);
        }
      })();
      const done = await progress.until((p) => p.some((x) => x.done), 30_000, "the job's outcome");
      const afterDone = sent;
      await sleep(600);
      stop = true;
      await camera;
      await results.count(2 * sent);

      const last = done.at(-1)!;
      assert.equal(last.jobId, reply.jobId);
      assert.equal(last.stage, "done");
      assert.equal(last.error, undefined);
      assert.equal(last.profileVersion, 2);
      const stages = [...new Set(done.map((p) => p.stage))];
      assert.deepEqual(stages, [
        "collecting",
        "features",
        "pseudo-anomalies",
        "normal-concept",
        "anomaly-concept",
        "self-tuning",
        "patch-memory",
        "calibration",
        "saving",
        "done",
      ]);
      assert.ok(done.some((p) => p.stage === "normal-concept" && p.etaSeconds !== null));
      for (let i = 1; i < done.length; i++) assert.ok(done[i].percent >= done[i - 1].percent);

      // Nothing lost: one result per frame; line-1 scored under v1, then under v2.
      assert.equal(results.items.length, 2 * sent);
      assert.equal(new Set(results.items.map((r) => r.frameId)).size, 2 * sent);
      const line1 = results.items.filter((r) => r.station === "line-1");
      assert.ok(line1.every((r) => r.score !== null), "line-1 is scored throughout");
      assert.ok(line1.some((r) => r.profileVersion === 1));
      const late = line1.filter((r) => Number(r.frameId.slice(3)) >= afterDone);
      assert.ok(late.length > 0 && late.every((r) => r.profileVersion === 2), "new frames use v2");
      const other = results.items.filter((r) => r.station === "other");
      assert.ok(other.every((r) => r.score !== null && r.profileVersion === 1), "other stations unaffected");

      const onDisk = await loadProfile(join(stateDir, "profiles", "line-1.safetensors"));
      assert.equal(onDisk.meta.version, 2);
      assert.equal(onDisk.meta.label, "bottle");
      assert.equal(onDisk.meta.enrollment.seed, 3);
      assert.equal(processor.status().stations.find((s) => s.station === "line-1")!.profileVersion, 2);
      await processor.stop();
      results.stop();
      progress.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "enrollment that cannot decode its frames fails and leaves the previous profile in force",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { cell: { version: 1 } });
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, { clip: model.clip, stateDir, log: quiet });
      const progress = new Gather<EnrollProgressMessage>(
        client,
        enrollProgressSubject("cell"),
        (m) => decodeEnrollProgress(m.data),
      );
      const results = new Gather<ResultMessage>(client, "adp.results.cell", (m) => decodeResult(m.data));
      await client.flush();
      const reply = await ask(client, "cell", JSON.stringify({ shots: 2, steps: 2 }));
      assert.equal(reply.ok, true);
      // Frames whose header is intact but whose data is cut: collected, then refused by enrollment.
      const png = await bottle(3);
      sendFrame(client, framesSubject("cell"), png.slice(0, 5000), "cut-1");
      sendFrame(client, framesSubject("cell"), png.slice(0, 9000), "cut-2");
      const outcome = (await progress.until((p) => p.some((x) => x.done), 20_000)).at(-1)!;
      assert.equal(outcome.stage, "failed");
      assert.match(outcome.error!, /truncated|corrupt/);
      assert.match(outcome.error!, /profile v1 stays in force/);
      sendFrame(client, framesSubject("cell"), await bottle(8), "after");
      const after = (await results.until((r) => r.some((x) => x.frameId === "after"))).find((r) =>
        r.frameId === "after"
      )!;
      assert.equal(after.profileVersion, 1);
      assert.equal(typeof after.score, "number");
      assert.equal((await loadProfile(join(stateDir, "profiles", "cell.safetensors"))).meta.version, 1);
      // The station can enroll again once the failed job has ended.
      const again = await ask(client, "cell", JSON.stringify({ shots: 1, steps: 1 }));
      assert.equal(again.ok, true);
      await processor.stop();
      const cancelled = progress.items.at(-1)!;
      assert.equal(cancelled.stage, "failed");
      assert.match(cancelled.error!, /cancelled: the service is stopping/);
      progress.stop();
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "enrollment takes frames by id from the ring buffer, enrolls with the service's patch backbone, and refuses ids it does not hold",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await Deno.makeTempDir();
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const backbone = sharedPath("models/proxy/backbone.json");
      const processor = await startProcessor(svc, {
        clip: model.clip,
        stateDir,
        log: quiet,
        ringSize: 4,
        backbone,
      });
      const results = new Gather<ResultMessage>(client, "adp.results.new", (m) => decodeResult(m.data));
      const progress = new Gather<EnrollProgressMessage>(
        client,
        enrollProgressSubject("new"),
        (m) => decodeEnrollProgress(m.data),
      );
      await client.flush();
      for (let i = 0; i < 6; i++) sendFrame(client, framesSubject("new"), await bottle(20 + i), `n${i}`);
      const before = await results.count(6);
      assert.ok(before.every((r) => r.reason === "no-profile"));

      const evicted = await ask(client, "new", JSON.stringify({ shots: 2, frameIds: ["n0", "n5"] }));
      assert.equal(evicted.ok, false);
      if (!evicted.ok) {
        assert.equal(evicted.code, "frames-not-found");
        assert.match(evicted.error, /"n0"/);
      }
      const reply = await ask(
        client,
        "new",
        JSON.stringify({ shots: 3, steps: 1, frameIds: ["n2", "n3", "n5"] }),
      );
      assert.equal(reply.ok, true);
      if (reply.ok) assert.equal(reply.source, "frame-ids");
      const outcome = (await progress.until((p) => p.some((x) => x.done))).at(-1)!;
      assert.equal(outcome.profileVersion, 1, outcome.error);
      sendFrame(client, framesSubject("new"), await bottle(30), "scored");
      const r = (await results.until((x) => x.some((y) => y.frameId === "scored"))).at(-1)!;
      assert.equal(r.profileVersion, 1);
      assert.equal(typeof r.score, "number");
      const { patch } = (await loadProfile(join(stateDir, "profiles", "new.safetensors"))).meta;
      assert.equal(patch.extractor.kind === "onnx" && patch.extractor.config, backbone);
      assert.equal(patch.testViews.length, 4);
      await processor.stop();
      results.stop();
      progress.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "enrollment refuses malformed requests, absurd shots, unknown fields and bad station ids",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await Deno.makeTempDir();
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, { clip: model.clip, stateDir, log: quiet });
      const cases: [string, string | Uint8Array, string, RegExp][] = [
        ["s1", "{not json", "bad-request", /not valid JSON/],
        ["s1", "", "bad-request", /empty/],
        ["s1", new Uint8Array([0xff, 0xfe, 0x00]), "bad-request", /not UTF-8/],
        ["s1", "[1,2]", "bad-request", /must be a JSON object/],
        ["s1", '{"shots":0}', "bad-request", /shots must be an integer from 1 to 16: got 0/],
        ["s1", '{"shots":1000000}', "bad-request", /shots must be an integer from 1 to 16: got 1000000/],
        ["s1", '{"shots":2.5}', "bad-request", /shots/],
        ["s1", '{"shots":"8"}', "bad-request", /shots/],
        ["s1", '{"seed":1}', "bad-request", /field shots must be an integer from 1 to 16: got nothing/],
        [
          "s1",
          '{"shots":4,"force":true,"__proto__":1}',
          "bad-request",
          /unknown fields "force", "__proto__"/,
        ],
        ["s1", '{"shots":4,"steps":100000}', "bad-request", /steps/],
        ["s1", '{"shots":4,"label":"a\\u0000b"}', "bad-request", /label/],
        ["s1", '{"shots":2,"frameIds":["a","a"]}', "bad-request", /twice/],
        [
          "s1",
          '{"shots":3,"frameIds":["a","b"]}',
          "bad-request",
          /field frameIds must list as many frames as shots \(3\): got 2/,
        ],
        ["adp.enroll.st@tion", '{"shots":4}', "invalid-station", /Station id "st@tion" is invalid/],
      ];
      for (const [station, body, code, message] of cases) {
        const reply = await ask(client, station, body);
        assert.equal(reply.ok, false, `${body} is refused`);
        if (!reply.ok) {
          assert.equal(reply.code, code, String(body));
          assert.match(reply.error, message);
        }
      }
      assert.equal(processor.status().enrollQueue, 0);
      await processor.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
