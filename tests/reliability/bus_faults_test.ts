/**
 * Issue 17, item 7: a nats-server restart is not silent. The service counts the disconnection and
 * the results it published while disconnected (a subscriber that was down too missed them), says
 * so in one log line once the bus is back, and in its status reply. Before, the status said
 * `dropped {}` and nothing else.
 */
import assert from "node:assert/strict";
import { startProcessor } from "../../src/stream/processor.ts";
import { framesSubject } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, sendFrame, sleep, stateDirWith, tinyModel } from "../stream/_fixture.ts";

Deno.test({
  name: "a nats-server restart is counted in the status and reported once the bus is back",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { line: {} });
    const lines: string[] = [];
    try {
      const svc = await ns.connect("service");
      const camera = await ns.connect("camera");
      const processor = await startProcessor(svc, { clip: model.clip, stateDir, log: (l) => lines.push(l) });
      // Frames keep coming; the server goes away under them and comes back.
      for (let i = 0; i < 6; i++) sendFrame(camera, framesSubject("line"), await bottle(i), `f-${i}`);
      await ns.restart();
      for (let i = 0; i < 100 && !lines.some((l) => l.includes("connection is back")); i++) await sleep(100);
      const back = lines.find((l) => l.includes("connection is back"));
      assert.ok(back, `no line says the bus is back: ${lines.join(" | ")}`);
      assert.match(back, /\d+ result\(s\) were published while it was down/);
      const faults = processor.status().busFaults;
      assert.equal(faults?.disconnects, 1, JSON.stringify(faults));
      assert.ok(faults.answeredWhileDisconnected >= 0);
      await processor.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
