/**
 * Two `adp serve` instances in one queue group share the frames: every frame is answered once, by
 * one of them, and both take part.
 */
import assert from "node:assert/strict";
import { startProcessor } from "../../src/stream/processor.ts";
import { decodeResult, type ResultMessage, type StatusReply } from "../../src/stream/messages.ts";
import { framesSubject, RESULTS_WILDCARD } from "../../src/stream/subjects.ts";
import { gatherStatus } from "../../src/cli/status.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, Gather, sendFrame, stateDirWith, tinyModel } from "./_fixture.ts";

const quiet = () => {};

Deno.test({
  name: "two instances in one queue group split the frames with nothing lost or doubled",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const dirA = await stateDirWith(model.clip, { east: {}, west: {} });
    const dirB = await stateDirWith(model.clip, { east: {}, west: {} });
    try {
      const a = await startProcessor(await ns.connect("a"), { clip: model.clip, stateDir: dirA, log: quiet });
      const b = await startProcessor(await ns.connect("b"), { clip: model.clip, stateDir: dirB, log: quiet });
      const client = await ns.connect("client");
      const results = new Gather<ResultMessage>(client, RESULTS_WILDCARD, (m) => decodeResult(m.data));
      await client.flush();
      const n = 40;
      const sent: string[] = [];
      for (let i = 0; i < n; i++) {
        const station = i % 2 ? "east" : "west";
        sent.push(`${station}-${i}`);
        sendFrame(client, framesSubject(station), await bottle(i % 16), `${station}-${i}`);
      }
      await results.count(n);
      // Anything doubled would arrive within the same batches; give it a moment to show up.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(results.items.length, n);
      assert.deepEqual(results.items.map((r) => r.frameId).sort(), sent.sort());
      assert.ok(results.items.every((r) => typeof r.score === "number"));

      // Both instances answer the status endpoint (no queue group there); both took frames.
      const statuses: StatusReply[] = await gatherStatus(client, 300);
      assert.deepEqual(statuses.map((s) => s.instance).sort(), [a.instance, b.instance].sort());
      const scored = statuses.map((s) => s.stations.reduce((t, st) => t + st.scored, 0));
      assert.equal(scored[0] + scored[1], n);
      assert.ok(scored[0] > 0 && scored[1] > 0, `both instances scored: ${scored}`);
      await Promise.all([a.stop(), b.stop()]);
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(dirA, { recursive: true });
      await Deno.remove(dirB, { recursive: true });
    }
  },
});
