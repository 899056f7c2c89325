/**
 * Overload with the tiny model: five times the sustainable frame rate for 10 s (the soak runs 60 s).
 * Every frame gets exactly one result, every drop is published and counted with reason `overload`,
 * the service keeps scoring at its capacity, what it scores comes back with a bounded delay that does
 * not grow over the run, memory stays flat, and once the load ends the latency is back to normal.
 */
import assert from "node:assert/strict";
import { startProcessor } from "../../src/stream/processor.ts";
import { mib } from "../../bench/soak/fuzz.ts";
import { bottleFrames, runOverload } from "../../bench/soak/overload.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { reliabilityModel, stateDirWith } from "./_fixture.ts";

Deno.test({
  name:
    "startProcessor() under 5× its sustainable rate drops by reason, keeps latency and memory bounded, recovers",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await reliabilityModel();
    const stateDir = await stateDirWith(model.clip, ["line"]);
    const maxBatch = 8, queueDepth = 16;
    try {
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: () => {},
        maxBatch,
        queueDepth,
        workers: 1,
      });
      // Every frame anomalous: the overload includes the heat maps and events, the dearest path (and
      // the sustainable rate is the service's, not the one-thread harness's that sends and collects).
      await processor.setThreshold({ station: "line", threshold: -1e6 });
      const frames = await bottleFrames(sharedPath(), 8, 224);
      const r = await runOverload({
        nc: await ns.connect("camera"),
        station: "line",
        frames,
        factor: 5,
        durationS: 10,
        calibrateS: 2,
        window: queueDepth,
        // This isolate's live heap and buffers (the process's RSS is shared with test files running
        // beside it): collected first where the test task exposes gc, so dropped frames' garbage
        // does not count.
        rss: () => {
          (globalThis as { gc?: () => void }).gc?.();
          const m = Deno.memoryUsage();
          return Promise.resolve(m.heapUsed + m.external);
        },
      });
      console.log(
        `overload: sustainable ${r.sustainableFps.toFixed(1)}/s, offered ${r.offeredFps.toFixed(1)}/s, ` +
          `scored ${r.scoredFps.toFixed(1)}/s; ${r.sent} sent, ${r.scored} scored, dropped ${
            JSON.stringify(r.dropped)
          }; ` +
          `latency ms idle ${JSON.stringify(r.latency.idle)} overload ${
            JSON.stringify(r.latency.overload)
          } ` +
          `after ${JSON.stringify(r.latency.recovered)}; drained in ${
            Math.round(r.drainMs)
          } ms; heap+buffers ${mib(r.rss.before)} → ` +
          `peak ${mib(r.rss.peak)}, end ${mib(r.rss.end)}, after ${mib(r.rss.after)}`,
      );
      // Frames in = results out, each once, each a score or a clear error.
      assert.equal(r.lost, 0);
      assert.equal(r.duplicates, 0);
      assert.equal(r.unclear, 0);
      assert.equal(r.results, r.sent);
      assert.deepEqual(Object.keys(r.dropped), ["overload"], "the only drops are overload drops");
      assert.equal(r.scored + r.dropped.overload, r.sent);
      // How many depends on the rate measured under this machine's load at the time; some always are.
      assert.ok(r.dropped.overload > 0, "frames beyond the capacity are dropped");
      // The service's own counters say the same.
      assert.deepEqual(r.counters, {
        received: r.sent,
        scored: r.scored,
        dropped: { overload: r.dropped.overload },
      });
      // It keeps working at its capacity.
      assert.ok(r.scoredFps > 0.4 * r.sustainableFps, `scored ${r.scoredFps}/s of ${r.sustainableFps}/s`);
      // Latency is bounded by the frames a station may have ahead of it (its queue, the frames being
      // decoded and the batch being scored), and does not grow from the first third to the last.
      const ahead = queueDepth + 3 * maxBatch;
      const bound = 3 * (ahead / r.sustainableFps) * 1000 + 1000;
      assert.ok(
        r.latency.overload.p99 < bound,
        `p99 ${r.latency.overload.p99} ms within ${Math.round(bound)} ms`,
      );
      assert.ok(r.latency.lastThird.p99 < 2 * r.latency.firstThird.p99 + 1000, "latency does not grow");
      // No backlog builds up anywhere (the latency bounds above say so for the queues too): a service
      // that held what it cannot score would grow by most of the bytes offered. Without gc exposed
      // (a lone `deno test`), the peak also holds dropped frames' garbage: then the bound is all of them.
      const offered = r.sent * frames.reduce((a, f) => a + f.length, 0) / frames.length;
      const collected = typeof (globalThis as { gc?: unknown }).gc === "function";
      const allowed = collected ? Math.min(128 * 1048576, offered / 4) : offered;
      assert.ok(
        r.rss.peak - r.rss.before < allowed,
        `memory grew ${mib(r.rss.peak - r.rss.before)} (${mib(offered)} offered)`,
      );
      assert.ok(r.rss.after - r.rss.before < 128 * 1048576, `memory kept ${mib(r.rss.after - r.rss.before)}`);
      // Recovered: unloaded latency once the load ends.
      assert.ok(
        r.latency.recovered.p50 < 3 * r.latency.idle.p50 + 100,
        `after ${r.latency.recovered.p50} ms vs before ${r.latency.idle.p50} ms`,
      );
      await processor.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
