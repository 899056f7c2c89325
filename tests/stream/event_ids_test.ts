/**
 * Evidence kept per event (issue 17, defect 9): a camera reusing an `Adp-Frame-Id` for other
 * frames gets one heat map and one stored event per frame, never one overwriting another; the
 * same frame sent again (a retry) is still one event.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { startProcessor } from "../../src/stream/processor.ts";
import { type AnomalyMessage, decodeAnomaly } from "../../src/stream/messages.ts";
import { framesSubject, JetStreamName } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, Gather, sendFrame, stateDirWith, tinyModel } from "./_fixture.ts";

for (const jetstream of [false, true]) {
  Deno.test({
    name:
      `startProcessor() keeps one heat map and event per frame when a frame id is reused (jetstream: ${jetstream})`,
    ...needsShared,
    async fn() {
      const ns = await setup({ jetstream });
      await using model = await tinyModel();
      const stateDir = await stateDirWith(model.clip, { hot: { threshold: -1e6 } });
      try {
        const client = await ns.connect("client");
        const processor = await startProcessor(await ns.connect("service"), {
          clip: model.clip,
          stateDir,
          log: () => {},
          jetstream,
        });
        const anomalies = new Gather<AnomalyMessage>(
          client,
          "adp.anomalies.hot",
          (m) => decodeAnomaly(m.data),
        );
        await client.flush();
        // Three different frames under one id (a camera's counter restarted), then a retry of the last.
        for (const i of [11, 12, 13, 13]) sendFrame(client, framesSubject("hot"), await bottle(i), "reused");
        await anomalies.count(4, 60_000);
        await processor.stop();
        anomalies.stop();
        const keys = new Set(anomalies.items.map((a) => a.heatmap?.key));
        assert.equal(keys.size, 3, `three frames, three heat maps: ${[...keys].join(", ")}`);
        assert.ok(keys.has(jetstream ? "hot/reused.png" : join("heatmaps", "hot", "reused.png")));
        if (jetstream) {
          const info = await (await jetstreamManager(client)).streams.info(JetStreamName.anomalyStream);
          assert.equal(info.state.messages, 3, "three events stored, the retry once");
        } else {
          const files = [...Deno.readDirSync(join(stateDir, "heatmaps", "hot"))].map((e) => e.name);
          assert.equal(files.length, 3, files.join(", "));
        }
      } finally {
        await cleanup(ns);
        await Deno.remove(stateDir, { recursive: true });
      }
    },
  });
}
