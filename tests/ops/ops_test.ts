/**
 * src/ops on its own: the logger's two formats and what it reads from a free-text line, the
 * `--http` address parser, the ops server's three paths and its readiness checks, and the metrics'
 * scrape-time counters.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.ts";
import {
  createLogger,
  parseListen,
  ServiceMetrics,
  startOpsServer,
  stationOfLine,
} from "../../src/ops/mod.ts";

Deno.test("ops - the logger writes text and JSON lines with time, level and the station", () => {
  const lines: string[] = [];
  const json = createLogger({ format: "json", write: (l) => lines.push(l), now: () => Date.UTC(2026, 0, 2) });
  json.line("warning: shared profile of line-7 refused, the current one stays: bad");
  json.line("threshold of cam_2 set to 0.5 (was 0.4)");
  json.line("adp serve abc stopped");
  assert.deepEqual(lines.map((l) => JSON.parse(l)), [
    {
      time: "2026-01-02T00:00:00.000Z",
      level: "warn",
      msg: "shared profile of line-7 refused, the current one stays: bad",
      station: "line-7",
    },
    {
      time: "2026-01-02T00:00:00.000Z",
      level: "info",
      msg: "threshold of cam_2 set to 0.5 (was 0.4)",
      station: "cam_2",
    },
    { time: "2026-01-02T00:00:00.000Z", level: "info", msg: "adp serve abc stopped" },
  ]);
  const text: string[] = [];
  createLogger({ write: (l) => text.push(l), now: () => 0 }).line("error: anomaly event of a/f1 failed: x");
  assert.equal(text[0], "1970-01-01T00:00:00.000Z ERROR anomaly event of a/f1 failed: x");
});

Deno.test("ops - station names are read from the service's line shapes", () => {
  assert.equal(stationOfLine("station line-1 refuses to score: bad"), "line-1");
  assert.equal(stationOfLine("enrollment job J1 of line-2: profile v3 in force"), "line-2");
  assert.equal(stationOfLine("enrollment job J1 of line-2 failed: x"), "line-2");
  assert.equal(stationOfLine("scorer of line-3 not disposed: x"), "line-3");
  assert.equal(stationOfLine("adp serve X: 2 profile(s) loaded"), undefined);
});

Deno.test("ops - --http addresses", () => {
  assert.deepEqual(parseListen("127.0.0.1:9464"), { hostname: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseListen("[::1]:0"), { hostname: "::1", port: 0 });
  for (const bad of ["9464", "host:", "h:70000", ""]) assert.throws(() => parseListen(bad), ConfigError);
});

Deno.test("ops - /healthz, /readyz follow the checks, /metrics reads the source when scraped", async () => {
  const metrics = new ServiceMetrics({ defaults: false });
  let connected = false;
  await using server = await startOpsServer({
    listen: "127.0.0.1:0",
    metrics,
    ready: { connected: () => connected },
  });
  const base = `http://127.0.0.1:${server.port}`;
  const get = async (path: string) => {
    const r = await fetch(base + path);
    return [r.status, await r.text()] as const;
  };
  assert.deepEqual(await get("/healthz"), [200, "ok\n"]);
  assert.deepEqual(await get("/readyz"), [503, "not ready: connected\n"]);
  connected = true;
  assert.deepEqual(await get("/readyz"), [200, "ready\n"]);
  let received = 3;
  metrics.setSource({
    stations: () => [{
      station: "s",
      received,
      scored: 2,
      anomalies: 1,
      dropped: { overload: 1 },
      profileVersion: 4,
      queued: 0,
    }],
    evictedStations: () => 7,
  });
  metrics.frameLatency("s", 0.02);
  const [status, body] = await get("/metrics");
  assert.equal(status, 200);
  assert.match(body, /^adp_frames_received_total\{station="s"\} 3$/m);
  assert.match(body, /^adp_frames_dropped_total\{station="s",reason="overload"\} 1$/m);
  assert.match(body, /^adp_frame_latency_seconds_count\{station="s"\} 1$/m);
  assert.match(body, /^adp_profile_version\{station="s"\} 4$/m);
  assert.match(body, /^adp_stations_evicted_total 7$/m);
  received = 5;
  assert.match((await get("/metrics"))[1], /^adp_frames_received_total\{station="s"\} 5$/m);
  metrics.enrollProgress({ jobId: "j", station: "s", stage: "collecting" });
  metrics.enrollProgress({ jobId: "j", station: "s", stage: "failed", done: true });
  assert.match((await get("/metrics"))[1], /^adp_enrollment_jobs_total\{outcome="failed"\} 1$/m);
  assert.equal((await get("/nope"))[0], 404);
});
