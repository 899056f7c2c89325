/**
 * `adp serve --http`: a real service child on a real nats-server. `/readyz` answers 503 until the
 * model is loaded, the bus connected and the profiles loaded, then 200; `/metrics` parses as the
 * Prometheus text format and its counters equal a known stream's: N good frames, M defective, D
 * undecodable; `--log-format json` writes one object per line, naming the station where a line is
 * about one.
 */
import assert from "node:assert/strict";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { connectNats, decodeResult, type ResultMessage, resultsSubject } from "../../src/stream/mod.ts";
import { publishFrame } from "../../bench/soak/service.ts";
import { bottle, reliabilityModel, stateDirWith } from "../reliability/_fixture.ts";
import {
  freePort,
  get,
  holdingRelay,
  parsePrometheusText,
  sampleValue,
  spawnAdp,
  waitFor,
} from "./_serve.ts";

const STATION = "line-a";

function defective(i: number): Promise<Uint8Array> {
  return Deno.readFile(
    sharedPath(`datasets/mvtec-ad/bottle/test/broken_large/${String(i).padStart(3, "0")}.png`),
  );
}

Deno.test({
  name: "ops - /readyz waits for model, bus and profiles; /metrics counts a known stream; JSON logs",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await reliabilityModel();
    const stateDir = await stateDirWith(model.clip, [STATION]);
    await using relay = holdingRelay(ns.port);
    const httpPort = freePort();
    const base = `http://127.0.0.1:${httpPort}`;
    try {
      await using serve = spawnAdp([
        "serve",
        "--model",
        model.dir,
        "--state-dir",
        stateDir,
        "--nats",
        `nats://127.0.0.1:${relay.port}`,
        "--device",
        "cpu",
        "--threads",
        "1",
        "--http",
        `127.0.0.1:${httpPort}`,
        "--log-format",
        "json",
      ], { XDG_CACHE_HOME: model.xdg });
      // The bus is held back: the process is alive, but not ready.
      await waitFor(async () => (await get(`${base}/healthz`)).status === 200, "/healthz", serve);
      const early = await get(`${base}/readyz`);
      assert.equal(early.status, 503, early.body);
      assert.match(early.body, /connected/);
      // The model loads meanwhile; then only the bus (and the profiles after it) are missing.
      await waitFor(
        async () => /not ready: connected, profiles\n/.test((await get(`${base}/readyz`)).body),
        "the model to load",
        serve,
      );
      assert.equal((await get(`${base}/readyz`)).status, 503);
      relay.release();
      await waitFor(async () => (await get(`${base}/readyz`)).status === 200, "/readyz 200", serve);

      const nc = await connectNats({ servers: ns.url });
      const results: ResultMessage[] = [];
      const sub = nc.subscribe(resultsSubject(STATION), {
        callback: (_e, m) => void results.push(decodeResult(m.data)),
      });
      await nc.flush();
      const N = 3, M = 2, D = 2;
      for (let i = 0; i < N; i++) publishFrame(nc, STATION, await bottle(10 + i), `good-${i}`);
      for (let i = 0; i < M; i++) publishFrame(nc, STATION, await defective(i), `bad-${i}`);
      const png = await bottle(20);
      // A PNG header announcing a real image, and the data cut off: admitted, then undecodable.
      for (let i = 0; i < D; i++) publishFrame(nc, STATION, png.slice(0, 4000 + i), `cut-${i}`);
      await waitFor(() => results.length >= N + M + D, `${N + M + D} results`, serve);
      sub.unsubscribe();
      await nc.close();

      const scrape = await get(`${base}/metrics`);
      assert.equal(scrape.status, 200);
      assert.match(scrape.type, /^text\/plain; version=0\.0\.4/);
      const { types, samples } = parsePrometheusText(scrape.body);
      const at = { station: STATION };
      const anomalous = results.filter((r) => r.anomalous === true).length;
      const undecodable = results.filter((r) => r.reason === "undecodable").length;
      assert.equal(undecodable, D, JSON.stringify(results.map((r) => r.reason)));
      assert.equal(types.get("adp_frames_received_total"), "counter");
      assert.equal(types.get("adp_frame_latency_seconds"), "histogram");
      assert.equal(sampleValue(samples, "adp_frames_received_total", at), N + M + D);
      assert.equal(sampleValue(samples, "adp_frames_scored_total", at), N + M);
      assert.equal(sampleValue(samples, "adp_frames_anomalous_total", at), anomalous);
      assert.equal(sampleValue(samples, "adp_frames_dropped_total", { ...at, reason: "undecodable" }), D);
      assert.equal(sampleValue(samples, "adp_frame_latency_seconds_count", at), N + M);
      assert.equal(sampleValue(samples, "adp_frame_latency_seconds_bucket", { ...at, le: "+Inf" }), N + M);
      assert.equal(sampleValue(samples, "adp_frame_decode_seconds_count", at), N + M);
      assert.equal(sampleValue(samples, "adp_profile_version", at), 1);
      assert.ok((sampleValue(samples, "adp_batch_frames_sum") ?? 0) === N + M);
      assert.ok((sampleValue(samples, "adp_process_resident_memory_bytes") ?? 0) > 10e6);
      assert.equal((await get(`${base}/nothing`)).status, 404);

      assert.equal(await serve.stop(), 0, serve.stderr.join("\n"));
      const lines = serve.stderr.filter((l) => l.trim() !== "");
      assert.ok(lines.length >= 3, lines.join("\n"));
      for (const line of lines) {
        const o = JSON.parse(line);
        assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, line);
        assert.ok(["debug", "info", "warn", "error"].includes(o.level), line);
        assert.equal(typeof o.msg, "string", line);
        if (o.msg.includes(STATION)) assert.equal(o.station, STATION, line);
      }
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
