/**
 * Issue 17, item 7: with `--jetstream`, kill -9 of the service loses no frame. Frames published
 * while no instance runs wait in the frame stream; those the killed instance had received but not
 * answered are delivered again once their ack wait passes. The result stream keeps one result per
 * frame (a redelivered frame's second result has the same `Nats-Msg-Id`). Before the frame stream,
 * every frame sent between the kill and the next start got no answer. A frame still waiting in the
 * service past the ack wait (queued behind slow decodes) is answered once: it is marked in progress,
 * not delivered again; before, each such frame was answered again after every ack wait.
 */
import assert from "node:assert/strict";
import { serviceKill } from "../../bench/soak/faults.ts";
import { spawnServe } from "../../bench/soak/service.ts";
import { jetstream } from "@nats-io/jetstream";
import { pngBomb } from "../../bench/soak/bombs.ts";
import { decodeResult, type ResultMessage } from "../../src/stream/messages.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import { framesSubject, JetStreamName, RESULTS_WILDCARD, resultsSubject } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, reliabilityModel, stateDirWith } from "./_fixture.ts";
import { Gather, sendFrame, sleep, tinyModel } from "../stream/_fixture.ts";

Deno.test({
  name: "with --jetstream a service killed mid-stream loses no frame: the next instance answers them",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: true });
    await using model = await reliabilityModel();
    const stateDir = await stateDirWith(model.clip, ["line"]);
    const spawn = () =>
      spawnServe({ model, stateDir, natsUrl: ns.url, args: ["--jetstream", "--workers", "1"] });
    let serve = await spawn();
    try {
      const nc = await ns.connect("camera");
      const frames = await Promise.all([0, 1, 2, 3].map(bottle));
      const killed = await serviceKill(
        { nc, victimNc: nc, spawn, station: "line", frames, fps: 2, log: () => {} },
        serve,
        true,
      );
      serve = killed.serve;
      const { report } = killed;
      assert.ok(report.sent >= 40, `the camera streamed 20 s at 2 fps: ${report.sent} frames`);
      assert.equal(report.lost, 0, `${report.lost} of ${report.sent} frames got no answer`);
      assert.deepEqual(report.problems.filter((p) => p.includes("lost")), []);
      const stored = await jetstream(nc).consumers.get(JetStreamName.resultStream);
      const ids: string[] = [];
      const messages = await stored.fetch({ max_messages: 1000, expires: 3000 });
      for await (const m of messages) {
        // The quiet phase's results and those around the kill.
        if (m.subject === resultsSubject("line")) ids.push(decodeResult(m.data).frameId);
        if (m.info.pending === 0) break;
      }
      assert.ok(ids.length >= report.sent, "every frame's result is in the stream");
      assert.equal(new Set(ids).size, ids.length, "once");
    } finally {
      await serve.stop();
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "with --jetstream a frame waiting in the service past the ack wait is answered once, not delivered again",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: true });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, ["line"]);
    try {
      const svc = await ns.connect("service");
      const camera = await ns.connect("camera");
      const ackWaitMs = 1000;
      const processor = await startProcessor(svc, {
        clip: model.clip,
        stateDir,
        log: () => {},
        jetstream: true,
        frameAckWaitMs: ackWaitMs,
        // One worker, held by each PNG bomb for its whole budget (it needs ~2.5 s): the frames behind wait.
        workers: 1,
        decodeTimeoutMs: 2000,
        maxDecodeCost: 1e12,
      });
      const results = new Gather<ResultMessage>(camera, RESULTS_WILDCARD, (m) => decodeResult(m.data));
      await camera.flush();
      const bomb = await pngBomb(5000);
      const frame = await bottle(1);
      const ids = ["bomb-0", "bomb-1", "ok-0", "ok-1", "ok-2"];
      for (const id of ids) {
        sendFrame(camera, framesSubject("line"), id.startsWith("bomb") ? bomb : frame, id);
      }
      await results.until((items) => ids.every((id) => items.some((r) => r.frameId === id)), 120_000);
      // A redelivered frame would be answered again within an ack wait of its first answer.
      await sleep(3 * ackWaitMs);
      await processor.stop();
      results.stop();
      const answers = ids.map((id) => results.items.filter((r) => r.frameId === id).length);
      assert.deepEqual(answers, ids.map(() => 1), `answers per frame ${ids.join(", ")}`);
      const last = results.items.find((r) => r.frameId === "ok-2")!;
      assert.equal(last.error, undefined, last.error);
      // Not a performance bound: without this wait the test would not exercise the ack wait at all.
      assert.ok(last.latencyMs > 2 * ackWaitMs, `ok-2 waited ${last.latencyMs} ms, past two ack waits`);
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
