/**
 * Issue 17, item 7: with `--jetstream`, kill -9 of the service loses no frame. Frames published
 * while no instance runs wait in the frame stream; those the killed instance had received but not
 * answered are delivered again once their ack wait passes. The result stream keeps one result per
 * frame (a redelivered frame's second result has the same `Nats-Msg-Id`). Before the frame stream,
 * every frame sent between the kill and the next start got no answer.
 */
import assert from "node:assert/strict";
import { serviceKill } from "../../bench/soak/faults.ts";
import { spawnServe } from "../../bench/soak/service.ts";
import { jetstream } from "@nats-io/jetstream";
import { decodeResult } from "../../src/stream/messages.ts";
import { JetStreamName, resultsSubject } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, reliabilityModel, stateDirWith } from "./_fixture.ts";

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
