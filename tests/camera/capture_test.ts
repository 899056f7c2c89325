import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { Msg } from "@nats-io/transport-node";
import { startCapture } from "../../src/camera/mod.ts";
import { decodeResult, Header, type ResultMessage } from "../../src/stream/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { makeVideo, mjpegCamera } from "./_ffmpeg.ts";

interface Frame {
  id: string;
  bytes: Uint8Array;
}

function isJpeg(b: Uint8Array): boolean {
  return b[0] === 0xff && b[1] === 0xd8 && b.at(-2) === 0xff && b.at(-1) === 0xd9;
}

function frameOf(m: Msg): Frame {
  return { id: m.headers?.get(Header.frameId) ?? "", bytes: m.data };
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("startCapture() publishes a video file's frames with consecutive ids and ends with the file", async () => {
  const server = await setup({ jetstream: false });
  const dir = await Deno.makeTempDir({ prefix: "adp-camera-" });
  try {
    const video = await makeVideo(dir, 1, 10);
    const nc = await server.connect();
    const frames: Frame[] = [];
    nc.subscribe("adp.frames.line-1", { callback: (_e, m) => void frames.push(frameOf(m)) });
    await nc.flush();
    const cam = await startCapture(nc, {
      station: "line-1",
      source: { kind: "url", url: video },
      fps: 10,
      idPrefix: "vid",
      log: () => {},
    });
    await cam.closed;
    await nc.flush();
    const n = cam.stats().published;
    ok(n >= 8 && n <= 11, `a 1 s file at 10 fps gives about 10 frames: got ${n}`);
    await waitFor(() => frames.length === n, 2000, `${n} frames`);
    deepStrictEqual(frames.map((f) => f.id), Array.from({ length: n }, (_, i) => `vid-${i}`));
    ok(frames.every((f) => isJpeg(f.bytes)), "every frame is one whole JPEG");
    strictEqual(cam.stats().reconnects, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await cleanup(server);
  }
});

Deno.test("startCapture() resumes an HTTP MJPEG stream that was killed and restarted, counting the gap", async () => {
  const server = await setup({ jetstream: false });
  await using camera = mjpegCamera();
  try {
    const nc = await server.connect();
    const frames: Frame[] = [];
    nc.subscribe("adp.frames.line-2", { callback: (_e, m) => void frames.push(frameOf(m)) });
    const logs: string[] = [];
    await using cam = await startCapture(nc, {
      station: "line-2",
      source: { kind: "url", url: camera.url },
      fps: 10,
      idPrefix: "cam",
      backoffMs: 50,
      maxBackoffMs: 200,
      log: (l) => logs.push(l),
    });
    await waitFor(() => frames.length >= 3, 20_000, "3 frames before the drop");
    await camera.kill();
    await waitFor(() => cam.stats().reconnects >= 1, 20_000, "the drop to be noticed");
    const before = frames.length;
    await new Promise((r) => setTimeout(r, 300));
    camera.start();
    await waitFor(() => frames.length >= before + 3, 20_000, "3 frames after the restart");
    const s = cam.stats();
    ok(s.gaps >= 1 && s.gapMs >= 300, `the gap is counted: ${JSON.stringify(s)}`);
    ok(
      logs.some((l) => l.includes("dropped")) && logs.some((l) => l.includes("stream back")),
      logs.join("\n"),
    );
    deepStrictEqual(frames.map((f) => f.id), frames.map((_, i) => `cam-${i}`), "ids stay consecutive");
    ok(frames.every((f) => isJpeg(f.bytes)), "no torn frame was published");
  } finally {
    await cleanup(server);
  }
});

Deno.test("startCapture() with trigger publishes exactly one frame per trigger, its id the part id", async () => {
  const server = await setup({ jetstream: false });
  await using camera = mjpegCamera();
  try {
    const nc = await server.connect();
    const frames: Frame[] = [];
    nc.subscribe("adp.frames.press", { callback: (_e, m) => void frames.push(frameOf(m)) });
    await using cam = await startCapture(nc, {
      station: "press",
      source: { kind: "url", url: camera.url },
      trigger: true,
      backoffMs: 50,
      log: () => {},
    });
    await waitFor(() => cam.stats().streaming, 20_000, "the stream");
    const reply = await nc.request("adp.trigger.press", "part-4711", { timeout: 5000 });
    deepStrictEqual(reply.json(), { ok: true, station: "press", frameId: "part-4711" });
    nc.publish("adp.trigger.press", JSON.stringify({ partId: "part-4712" }));
    await waitFor(() => frames.length >= 2, 5000, "the second frame");
    await new Promise((r) => setTimeout(r, 300));
    deepStrictEqual(frames.map((f) => f.id), ["part-4711", "part-4712"]);
    ok(frames.every((f) => isJpeg(f.bytes)));
  } finally {
    await cleanup(server);
  }
});

Deno.test("startCapture() answers a trigger with an error result when no frame comes in time", async () => {
  const server = await setup({ jetstream: false });
  try {
    const nc = await server.connect();
    const results: ResultMessage[] = [];
    nc.subscribe("adp.results.press", { callback: (_e, m) => void results.push(decodeResult(m.data)) });
    // Nothing listens there: the camera never delivers a frame.
    await using cam = await startCapture(nc, {
      station: "press",
      source: { kind: "url", url: "http://127.0.0.1:9/none.mjpg" },
      trigger: true,
      triggerTimeoutMs: 300,
      backoffMs: 50,
      log: () => {},
    });
    const reply = await nc.request("adp.trigger.press", "part-9", { timeout: 5000 });
    const r = reply.json<{ ok: boolean; error: string }>();
    strictEqual(r.ok, false);
    ok(r.error.includes("No frame from the camera within 300 ms"), r.error);
    nc.publish("adp.trigger.press", "bad id with spaces");
    await waitFor(() => results.length >= 2, 3000, "two error results");
    strictEqual(results[0].frameId, "part-9");
    strictEqual(results[0].reason, "capture-failed");
    strictEqual(results[0].anomalous, null);
    ok(results[1].error?.includes("Trigger refused"), results[1].error);
    strictEqual(cam.stats().triggerErrors, 2);
  } finally {
    await cleanup(server);
  }
});

Deno.test("startCapture() refuses frames over the server's max_payload with a clear message", async () => {
  const server = await setup({ jetstream: false, maxPayload: 1024 });
  const dir = await Deno.makeTempDir({ prefix: "adp-camera-" });
  try {
    const video = await makeVideo(dir, 1, 10);
    const nc = await server.connect();
    let published = 0;
    nc.subscribe("adp.frames.big", { callback: () => void published++ });
    const logs: string[] = [];
    const cam = await startCapture(nc, {
      station: "big",
      source: { kind: "url", url: video },
      fps: 10,
      quality: 2,
      log: (l) => logs.push(l),
    });
    await cam.closed;
    await nc.flush();
    strictEqual(published, 0);
    ok(cam.stats().refused >= 8, JSON.stringify(cam.stats()));
    ok(logs.some((l) => l.includes("over the server's max_payload of 1024")), logs.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
    await cleanup(server);
  }
});
