/**
 * A real `adp serve` for the bridge bench, in its own process as deployed: the tiny CLIP (random
 * weights) with a profile of the bottle on 900×900 PNG frames, its threshold put between the scores
 * of two sets of frames so a PLC sees the verdict flip on every frame of an alternating sequence.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { Endpoint, framesSubject, Header, resultsSubject, serviceSubject } from "../src/stream/subjects.ts";
import type { ResultMessage } from "../src/stream/messages.ts";
import { prepareTinyStation } from "./_tiny_station.ts";

/** The service and the frames that flip its verdict. */
export interface BenchService extends AsyncDisposable {
  /** Frames scored above the threshold (anomalous). */
  readonly high: Uint8Array[];
  /** Frames scored below it (good). */
  readonly low: Uint8Array[];
  /** Publishes a frame on the station's subject with an id. */
  publish(frame: Uint8Array, frameId: string): void;
}

/**
 * Starts `adp serve` for `station` on the server at `natsUrl` (model and state in `root`), scores
 * 16 frames once and sets the threshold at their median.
 *
 * @param natsUrl the server
 * @param camera the camera's connection (it also sets the threshold)
 * @param station the station id
 * @param root a folder for the model and the state
 * @param serveFlags further flags of `adp serve` (`--threads 1`)
 * @returns the running service
 */
export async function startBenchService(
  natsUrl: string,
  camera: NatsConnection,
  station: string,
  root: string,
  serveFlags: string[] = [],
): Promise<BenchService> {
  const { modelDir: dir, stateDir, clip, frames } = await prepareTinyStation(root, station);
  await clip.dispose();
  const child = await spawnServe([
    "--model",
    dir,
    "--state-dir",
    stateDir,
    "--nats",
    natsUrl,
    "--device",
    "cpu",
    ...serveFlags,
  ], {
    XDG_CACHE_HOME: join(root, "cache"),
  });
  const publish = (frame: Uint8Array, frameId: string) => {
    const h = headers();
    h.set(Header.frameId, frameId);
    camera.publish(framesSubject(station), frame, { headers: h });
  };
  const stop = async () => {
    child.kill("SIGTERM");
    await child.status;
  };
  try {
    const { high, low } = await calibrate(camera, station, frames, publish);
    return { high, low, publish, [Symbol.asyncDispose]: stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** `adp serve` in a child process; resolves once it listens. */
async function spawnServe(args: string[], env: Record<string, string>): Promise<Deno.ChildProcess> {
  const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", cli, "serve", ...args],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  while (!lines.some((l) => l.includes("adp serve: listening"))) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`bridge bench: adp serve ended before listening:\n${lines.join("\n")}`);
    buffered += value;
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts);
  }
  // Keep draining its log so the pipe never fills.
  (async () => {
    while (!(await reader.read()).done) { /* drained */ }
  })().catch(() => {});
  return child;
}

/** Scores every frame once and puts the threshold at the median: half above, half below. */
async function calibrate(
  camera: NatsConnection,
  station: string,
  frames: Uint8Array[],
  publish: (frame: Uint8Array, frameId: string) => void,
): Promise<{ high: Uint8Array[]; low: Uint8Array[] }> {
  const scores = new Map<string, number>();
  const sub = camera.subscribe(resultsSubject(station), {
    callback: (_e, m) => {
      const r = m.json<ResultMessage>();
      if (r.score !== null) scores.set(r.frameId, r.score);
    },
  });
  await camera.flush();
  frames.forEach((f, i) => publish(f, `cal-${i}`));
  const deadline = Date.now() + 120_000;
  while (scores.size < frames.length) {
    if (Date.now() > deadline) {
      throw new Error("bridge bench: the service did not score the calibration frames");
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  sub.unsubscribe();
  const sorted = [...scores.values()].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const threshold = (sorted[mid - 1] + sorted[mid]) / 2;
  const reply = await camera.request(
    serviceSubject(Endpoint.thresholdSet),
    JSON.stringify({ station, threshold }),
    { timeout: 30_000 },
  );
  const set = reply.data.length ? reply.json<{ threshold?: number }>() : {};
  if (set.threshold !== threshold) throw new Error(`bridge bench: threshold not set: ${reply.string()}`);
  const scoreOf = (i: number) => scores.get(`cal-${i}`)!;
  return {
    high: frames.filter((_, i) => scoreOf(i) > threshold),
    low: frames.filter((_, i) => scoreOf(i) < threshold),
  };
}
