/**
 * The processor against a real nats-server: every frame gets exactly one result, hostile frames get
 * clear errors while other stations keep being scored, overload drops are published and counted,
 * anomalies carry a map summary and a stored heat map, and stopping answers every frame received.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Image } from "imagescript";
import { startProcessor } from "../../src/stream/processor.ts";
import {
  type AnomalyMessage,
  decodeAnomaly,
  decodeResult,
  FrameErrorReason,
  type ResultMessage,
} from "../../src/stream/messages.ts";
import { framesSubject, RESULTS_WILDCARD } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { loadProfile } from "../../src/adp/profile.ts";
import { createScorer } from "../../src/adp/scorer.ts";
import { bottle, Gather, sendFrame, stateDirWith, tinyModel } from "./_fixture.ts";

const quiet = () => {};

Deno.test({
  name:
    "startProcessor() answers N frames of three stations with exactly N results, none lost or doubled, scored as each station's scorer alone scores them",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    // line-1 reads CLIP's tokens, line_2 the proxy backbone through four test views: one vision pass
    // per batch serves both, and line_2's frames are resized for its backbone in the decode workers.
    const backbone = sharedPath("models/proxy/backbone.json");
    const stateDir = await stateDirWith(model.clip, { "line-1": {}, "line_2": { backbone } });
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, { clip: model.clip, stateDir, log: quiet, maxBatch: 8 });
      const results = new Gather<ResultMessage>(client, RESULTS_WILDCARD, (m) => decodeResult(m.data));
      await client.flush();
      const sent: string[] = [];
      const frameOf = new Map<string, number>();
      const stations = ["line-1", "line_2", "line-3"];
      for (let i = 0; i < 24; i++) {
        const station = stations[i % 3];
        const id = `${station}-f${i}`;
        sent.push(id);
        sendFrame(client, framesSubject(station), await bottle(4 + (i % 12)), id);
        frameOf.set(id, 4 + (i % 12));
      }
      await results.count(24);
      await processor.stop();
      const ids = results.items.map((r) => r.frameId);
      assert.deepEqual([...ids].sort(), [...sent].sort(), "one result per frame, same ids");
      assert.equal(new Set(ids).size, 24);
      for (const r of results.items) {
        if (r.station === "line-3") {
          assert.equal(r.reason, FrameErrorReason.noProfile);
          assert.match(r.error!, /has not been enrolled/);
          assert.equal(r.score, null);
        } else {
          assert.equal(r.error, undefined, r.error);
          assert.equal(typeof r.score, "number");
          assert.equal(r.profileVersion, 1);
          assert.equal(r.anomalous, r.score! >= r.threshold!);
          assert.ok(r.capturedAt && Date.parse(r.capturedAt) > 0, "capture time from the header");
          assert.ok(r.latencyMs >= 0);
        }
      }
      const status = processor.status();
      const byStation = Object.fromEntries(status.stations.map((s) => [s.station, s]));
      assert.equal(byStation["line-1"].scored, 8);
      assert.equal(byStation["line_2"].received, 8);
      assert.equal(byStation["line-3"].dropped["no-profile"], 8);
      assert.ok(byStation["line-1"].latencyMs.p50! > 0);
      results.stop();
      for (const station of ["line-1", "line_2"]) {
        const profile = await loadProfile(join(stateDir, "profiles", `${station}.safetensors`));
        const scorer = createScorer(model.clip, profile);
        try {
          const mine = results.items.filter((r) => r.station === station);
          const alone = await scorer.score(
            await Promise.all(mine.map((r) => bottle(frameOf.get(r.frameId)!))),
          );
          // Batch composition changes float summation order in the model, nothing more.
          mine.forEach((r, i) =>
            assert.ok(Math.abs(r.score! - alone[i].score) <= 1e-3 * (1 + Math.abs(alone[i].score)), station)
          );
        } finally {
          await scorer.dispose();
        }
      }
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

/** A PNG IHDR announcing `w`×`h`, then nothing. */
function pngHeader(w: number, h: number): Uint8Array {
  const b = new Uint8Array(33);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  new DataView(b.buffer).setUint32(16, w);
  new DataView(b.buffer).setUint32(20, h);
  b.set([8, 2, 0, 0, 0], 24);
  return b;
}

Deno.test({
  name: "startProcessor() answers hostile frames with clear errors and keeps scoring the others",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { good: {}, victim: {} });
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, {
        clip: model.clip,
        stateDir,
        log: quiet,
        maxFrameBytes: 700_000,
      });
      const results = new Gather<ResultMessage>(client, "adp.results.>", (m) => decodeResult(m.data));
      await client.flush();
      const png = await bottle(5);
      const random = crypto.getRandomValues(new Uint8Array(4096));
      const jpeg = await new Image(64, 48).fill(0x336699ff).encodeJPEG(80);
      const hostile: [string, Uint8Array, string, RegExp][] = [
        ["random", random, FrameErrorReason.undecodable, /not recognised: expected PNG or JPEG/],
        [
          "truncated-png",
          png.slice(0, png.length / 3),
          FrameErrorReason.undecodable,
          /PNG.*truncated|corrupt/,
        ],
        ["truncated-jpeg", jpeg.slice(0, 200), FrameErrorReason.undecodable, /JPEG/],
        ["huge-header", pngHeader(30000, 30000), FrameErrorReason.tooLarge, /30000×30000.*limit/],
        ["empty", new Uint8Array(0), FrameErrorReason.empty, /empty/],
        ["oversized", new Uint8Array(800_000).fill(1), FrameErrorReason.tooLarge, /800000 bytes.*700000/],
        [
          "text",
          new TextEncoder().encode("<html>not an image</html>"),
          FrameErrorReason.undecodable,
          /format/,
        ],
      ];
      for (const [id, bytes] of hostile) sendFrame(client, framesSubject("victim"), bytes, id);
      // Subjects naming no valid station: bad characters, an extra token, too long.
      client.publish("adp.frames.st@tion", png);
      client.publish("adp.frames.a.b", png);
      client.publish(`adp.frames.${"x".repeat(65)}`, png);
      sendFrame(client, "adp.frames.~/etc/passwd", new Uint8Array(10), "traversal");
      for (let i = 0; i < 4; i++) sendFrame(client, framesSubject("good"), await bottle(6 + i), `good-${i}`);
      sendFrame(client, framesSubject("victim"), png, "victim-ok");
      await results.count(hostile.length + 4 + 4 + 1);
      const byId = new Map(results.items.map((r) => [r.frameId, r]));
      for (const [id, , reason, message] of hostile) {
        const r = byId.get(id)!;
        assert.ok(r, `a result for ${id}`);
        assert.equal(r.reason, reason, `${id}: ${r.error}`);
        assert.match(r.error!, message);
        assert.equal(r.score, null);
        assert.equal(r.station, "victim");
      }
      const invalid = results.items.filter((r) => r.reason === FrameErrorReason.invalidStation);
      assert.equal(invalid.length, 4);
      for (const r of invalid) assert.match(r.error!, /Station id .* is invalid/);
      for (const id of ["good-0", "good-1", "good-2", "good-3", "victim-ok"]) {
        assert.equal(typeof byId.get(id)?.score, "number", `${id} scored`);
      }
      const status = processor.status();
      const victim = status.stations.find((s) => s.station === "victim")!;
      assert.deepEqual(victim.dropped, { undecodable: 4, "too-large": 2, empty: 1 });
      assert.equal(victim.scored, 1);
      assert.equal(status.invalidStationFrames, 4);
      assert.ok(!status.stations.some((s) => s.station.includes(".")), "no station made of a bad id");
      // Nothing was written outside the state dir's own folders.
      const entries = [...Deno.readDirSync(stateDir)].map((e) => e.name).sort();
      assert.deepEqual(entries, ["jobs", "profiles"]);
      await processor.stop();
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "startProcessor() keeps the newest frames when overloaded and publishes every drop as overload",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { busy: {} });
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, {
        clip: model.clip,
        stateDir,
        log: quiet,
        maxBatch: 2,
        queueDepth: 2,
      });
      const results = new Gather<ResultMessage>(client, "adp.results.busy", (m) => decodeResult(m.data));
      await client.flush();
      const n = 30;
      const frame = await bottle(7);
      for (let i = 0; i < n; i++) sendFrame(client, framesSubject("busy"), frame, `b${i}`);
      await results.count(n);
      await processor.stop();
      const overload = results.items.filter((r) => r.reason === FrameErrorReason.overload);
      const scored = results.items.filter((r) => r.score !== null);
      assert.equal(overload.length + scored.length, n);
      assert.ok(overload.length > 0, "a burst of 30 into a queue of 2 drops some");
      assert.match(overload[0].error!, /overloaded and keeps the newest 2 frames/);
      assert.ok(scored.some((r) => r.frameId === `b${n - 1}`), "the newest frame is scored");
      assert.equal(new Set(results.items.map((r) => r.frameId)).size, n);
      const busy = processor.status().stations[0];
      assert.equal(busy.dropped.overload, overload.length);
      assert.equal(busy.scored, scored.length);
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "startProcessor() publishes anomalies with regions and a heat-map PNG in the state dir",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    // A threshold far below any score: every frame is anomalous.
    const stateDir = await stateDirWith(model.clip, { hot: { threshold: -1e6 } });
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, { clip: model.clip, stateDir, log: quiet });
      const anomalies = new Gather<AnomalyMessage>(client, "adp.anomalies.hot", (m) => decodeAnomaly(m.data));
      const results = new Gather<ResultMessage>(client, "adp.results.hot", (m) => decodeResult(m.data));
      await client.flush();
      sendFrame(client, framesSubject("hot"), await bottle(9), "a/../1");
      sendFrame(client, framesSubject("hot"), await bottle(10), "a2");
      // Stopping right away: the anomaly events must still go out before stop() returns.
      await results.count(2);
      await processor.stop();
      // stop() flushed them from the service; the client may still be receiving them.
      await anomalies.count(2);
      const a = anomalies.items.find((x) => x.frameId === "a2")!;
      assert.equal(a.anomalous, true);
      assert.equal(a.frameWidth, 900);
      assert.ok(a.map.regions.length >= 1 && a.map.regions.length <= 5);
      for (const r of a.map.regions) {
        assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.width <= 900 && r.y + r.height <= 900);
        assert.ok(r.peak <= a.map.max && r.peak >= a.map.level);
      }
      assert.equal(a.heatmap?.store, "file");
      const png = await Deno.readFile(join(stateDir, a.heatmap!.key));
      const image = await Image.decode(png);
      assert.equal(image.width, 512);
      // A frame id that is not a safe file name is hashed, never used as a path.
      const odd = anomalies.items.find((x) => x.frameId === "a/../1")!;
      assert.match(odd.heatmap!.key, /^heatmaps\/hot\/[0-9a-f]{32}\.png$/);
      anomalies.stop();
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "stop() answers every frame the service has received before it returns",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { drain: {} });
    try {
      const client = await ns.connect("client");
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      const results = new Gather<ResultMessage>(client, "adp.results.drain", (m) => decodeResult(m.data));
      await client.flush();
      for (let i = 0; i < 16; i++) sendFrame(client, framesSubject("drain"), await bottle(i), `d${i}`);
      await client.flush();
      await processor.stop();
      const received = processor.status().stations[0].received;
      assert.equal(received, 16, "every frame published before stop() reached the service");
      await client.flush();
      assert.equal(results.items.length, 16, "and every one of them was answered");
      assert.ok(results.items.every((r) => typeof r.score === "number"));
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
