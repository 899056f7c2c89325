/**
 * What observability costs the service: scoring throughput through a real nats-server with the
 * Prometheus metrics on (the telemetry hooks fed, `/metrics` served and scraped every second) as a
 * ratio to the same service without them (goal ≥ 0.98). The two alternate over several rounds and
 * the median ratio is reported, so other load on the machine shifts both alike; beside it the ratio
 * in frames per CPU second of this process, which other processes barely move.
 *
 * The model is the tiny CLIP (random weights) on real 900×900 PNG frames: per frame the service does
 * the least model work there is, so the metrics' share of it is the largest it can be (with ViT-B/16
 * it is smaller still). `deno run -A bench/metrics_bench.ts [--rounds 4] [--frames 64]`; run by
 * `deno task bench`. Never asserts timings. Needs ../shared.
 *
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { join } from "node:path";
import { connect, headers } from "@nats-io/transport-node";
import { startProcessor } from "../src/stream/processor.ts";
import { framesSubject, Header, resultsSubject } from "../src/stream/subjects.ts";
import { startNatsServer } from "../src/stream/nats_server.ts";
import { ServiceMetrics, startOpsServer } from "../src/ops/mod.ts";
import { hasShared } from "../tests/_shared.ts";
import { prepareTinyStation } from "./_tiny_station.ts";
import { retainFreedMemory } from "../src/allocator.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: "string" }, frames: { type: "string" } } });
  const rounds = Number(values.rounds ?? 4), count = Number(values.frames ?? 64);
  if (!hasShared()) {
    console.log("metrics bench: skipped (needs ../shared for the vocabulary and frames)");
    return;
  }
  const root = await Deno.makeTempDir({ prefix: "adp-metrics-bench-" });
  const natsDir = join(root, "nats");
  await Deno.mkdir(natsDir);
  const server = await startNatsServer({ dir: natsDir, jetstream: false });
  const { stateDir, clip, frames } = await prepareTinyStation(root, "bench");
  const nc = await connect({ servers: server.url });
  const camera = await connect({ servers: server.url });

  /** One burst of `count` frames through a fresh processor: frames/s and frames per CPU second. */
  const burst = async (withMetrics: boolean) => {
    const metrics = withMetrics ? new ServiceMetrics() : undefined;
    const processor = await startProcessor(nc, {
      clip,
      stateDir,
      telemetry: metrics,
      queueDepth: count,
      log: () => {},
    });
    metrics?.setSource({ stations: () => processor.status().stations });
    const http = metrics ? await startOpsServer({ listen: "127.0.0.1:0", metrics }) : undefined;
    let scrapes = 0;
    const scraper = http && setInterval(() => {
      fetch(`http://127.0.0.1:${http.port}/metrics`).then((r) => r.text()).then(() => scrapes++);
    }, 1000);
    let got = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => done = r);
    const sub = camera.subscribe(resultsSubject("bench"), {
      callback: () => {
        if (++got === count) done();
      },
    });
    await camera.flush();
    const t0 = performance.now(), c0 = cpuSeconds();
    for (let i = 0; i < count; i++) {
      const h = headers();
      h.set(Header.frameId, `f${i}`);
      camera.publish(framesSubject("bench"), frames[i % frames.length], { headers: h });
    }
    await all;
    const seconds = (performance.now() - t0) / 1000, cpu = cpuSeconds() - c0;
    if (scraper) clearInterval(scraper);
    sub.unsubscribe();
    await processor.stop();
    await http?.close();
    return { fps: count / seconds, perCpu: count / cpu, scrapes };
  };

  await burst(false); // warm-up: graph sessions, workers, caches
  const ratios: number[] = [], cpuRatios: number[] = [];
  let scrapes = 0;
  for (let r = 0; r < rounds; r++) {
    const off = await burst(false);
    const on = await burst(true);
    ratios.push(on.fps / off.fps);
    cpuRatios.push(on.perCpu / off.perCpu);
    scrapes += on.scrapes;
    console.log(
      `  round ${r + 1}: without ${off.fps.toFixed(1)} frames/s, with /metrics ${
        on.fps.toFixed(1)
      } frames/s ` +
        `(${on.scrapes} scrapes)`,
    );
  }
  console.log(
    `metrics bench (tiny CLIP, ${count} frames × ${rounds} rounds, /metrics scraped every 1 s, ${scrapes} scrapes): ` +
      `throughput with/without = ${median(ratios).toFixed(3)} (goal ≥ 0.98); ` +
      `frames per CPU second with/without = ${median(cpuRatios).toFixed(3)}`,
  );
  await camera.close();
  await nc.close();
  await clip.dispose();
  await server.stop();
  await Deno.remove(root, { recursive: true });
}

if (import.meta.main) {
  retainFreedMemory();
  await main();
}
