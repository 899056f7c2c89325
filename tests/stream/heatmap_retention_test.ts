/**
 * Heat-map retention per station (issue 13): a station keeps at most its count and its bytes of
 * heat maps, in the state dir and in the JetStream bucket, the oldest going first; and the
 * `adp_heatmap_store_count` / `adp_heatmap_store_bytes` gauges equal what the store holds.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Objm } from "@nats-io/obj";
import { startProcessor } from "../../src/stream/processor.ts";
import { type AnomalyMessage, decodeAnomaly } from "../../src/stream/messages.ts";
import { framesSubject, JetStreamName } from "../../src/stream/subjects.ts";
import { ServiceMetrics } from "../../src/ops/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { parsePrometheusText, sampleValue } from "../deploy/_serve.ts";
import { bottle, Gather, sendFrame, stateDirWith, tinyModel } from "./_fixture.ts";

/** Frames sent per station. */
const FRAMES = 6;
/** The count-limited station's limit. */
const COUNT = 3;

for (const jetstream of [false, true]) {
  Deno.test({
    name:
      `heat-map retention by count and by bytes, oldest first; the gauges equal the store (jetstream: ${jetstream})`,
    ...needsShared,
    async fn() {
      const ns = await setup({ jetstream });
      await using model = await tinyModel();
      const stateDir = await stateDirWith(model.clip, {
        few: { threshold: -1e6 },
        small: { threshold: -1e6 },
      });
      try {
        const client = await ns.connect("client");
        const bucket = jetstream ? () => new Objm(client).open(JetStreamName.heatmapBucket) : undefined;
        /** What the store holds for a station: names and bytes, read from disk or the bucket. */
        const stored = async (station: string): Promise<Map<string, number>> => {
          const out = new Map<string, number>();
          if (bucket) {
            for (const i of await (await bucket()).list()) {
              if (!i.deleted && i.name.startsWith(`${station}/`)) out.set(i.name, i.size);
            }
          } else {
            for (const e of Deno.readDirSync(join(stateDir, "heatmaps", station))) {
              out.set(
                join("heatmaps", station, e.name),
                Deno.statSync(join(stateDir, "heatmaps", station, e.name)).size,
              );
            }
          }
          return out;
        };
        // The bytes limit: about two and a half heat maps of this model and these frames (measured below).
        const probe = await startProcessor(await ns.connect("probe"), {
          clip: model.clip,
          stateDir,
          log: () => {},
          jetstream,
        });
        const probed = new Gather<AnomalyMessage>(client, "adp.anomalies.few", (m) => decodeAnomaly(m.data));
        await client.flush();
        sendFrame(client, framesSubject("few"), await bottle(10), "probe");
        await probed.count(1, 60_000);
        await probe.stop();
        probed.stop();
        const typical = (await stored("few")).get(probed.items[0].heatmap!.key)!;
        assert.ok(typical > 0);
        const bytesLimit = Math.round(2.5 * typical);

        const processor = await startProcessor(await ns.connect("service"), {
          clip: model.clip,
          stateDir,
          log: () => {},
          jetstream,
          heatmapRetention: { count: COUNT, stations: { small: { bytes: bytesLimit, count: 100 } } },
        });
        const metrics = new ServiceMetrics({ defaults: false });
        metrics.setSource({ stations: () => [], heatmapStore: () => processor.heatmapUsage() });
        const sizes: Record<string, [string, number][]> = { few: [], small: [] };
        for (const station of ["few", "small"]) {
          const events = new Gather<AnomalyMessage>(
            client,
            `adp.anomalies.${station}`,
            (m) => decodeAnomaly(m.data),
          );
          await client.flush();
          // One at a time, so the order of storing is the order of sending.
          for (let i = 0; i < FRAMES; i++) {
            sendFrame(client, framesSubject(station), await bottle(11 + i), `f-${i}`);
            await events.count(i + 1, 60_000);
            const key = events.items[i].heatmap!.key;
            sizes[station].push([key, (await stored(station)).get(key)!]);
          }
          events.stop();
        }

        // Count: the last COUNT stay, the probe's heat map (left by an earlier run) went first.
        const few = await stored("few");
        assert.deepEqual([...few.keys()].sort(), sizes.few.slice(-COUNT).map(([k]) => k).sort());
        // Bytes: the longest run of newest heat maps within the limit.
        let keep = 0, total = 0;
        for (const [, n] of sizes.small.toReversed()) {
          if (keep > 0 && total + n > bytesLimit) break;
          keep++, total += n;
        }
        assert.ok(keep >= 1 && keep < FRAMES, `the bytes limit binds: ${keep} of ${FRAMES} kept`);
        const small = await stored("small");
        assert.deepEqual([...small.keys()].sort(), sizes.small.slice(-keep).map(([k]) => k).sort());

        const { samples } = parsePrometheusText(await metrics.metrics());
        for (const [station, held] of [["few", few], ["small", small]] as const) {
          const bytes = [...held.values()].reduce((a, b) => a + b, 0);
          assert.equal(sampleValue(samples, "adp_heatmap_store_count", { station }), held.size, station);
          assert.equal(sampleValue(samples, "adp_heatmap_store_bytes", { station }), bytes, station);
        }
        await processor.stop();
      } finally {
        await cleanup(ns);
        await Deno.remove(stateDir, { recursive: true });
      }
    },
  });
}
