/**
 * The demo's simulated camera: MVTec-AD bottle images replayed as a camera would publish them.
 *
 * @module
 */
import { join } from "node:path";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { framesSubject, Header } from "../stream/mod.ts";
import { sleep } from "./_demo_console.ts";

/** Defect kinds streamed, round-robin. */
const DEFECTS = ["broken_large", "broken_small", "contamination"];
/** Good test frames streamed. */
const GOOD_FRAMES = 8;
/** Frames streamed of each defect kind. */
const DEFECT_FRAMES_EACH = 4;

/** One replayed image. */
export interface DemoFrame {
  /** Path under the bottle folder, e.g. `test/broken_large/000.png`. */
  source: string;
  /** The PNG file's bytes, published as they are. */
  bytes: Uint8Array;
  /** Whether it shows a defect (from its folder). */
  defective: boolean;
}

/** The first `n` PNGs of a folder under the bottle folder, in name order. */
async function readFrames(bottle: string, sub: string, n: number, defective: boolean): Promise<DemoFrame[]> {
  const names = (await readdir(join(bottle, sub))).filter((f) => f.endsWith(".png")).sort().slice(0, n);
  return await Promise.all(names.map(async (name) => ({
    source: `${sub}/${name}`,
    bytes: await Deno.readFile(join(bottle, sub, name)),
    defective,
  })));
}

/**
 * `shots` enrollment frames from the MVTec-AD bottle folder `bottle`, then good and defective test
 * frames interleaved.
 */
export async function demoFrames(
  bottle: string,
  shots: number,
): Promise<{ enroll: DemoFrame[]; stream: DemoFrame[] }> {
  if (!existsSync(bottle)) {
    throw new Error(`No demo images: ${bottle} is absent (place ../shared beside the checkout)`);
  }
  const enroll = await readFrames(bottle, "train/good", shots, false);
  const good = await readFrames(bottle, "test/good", GOOD_FRAMES, false);
  const defects = await Promise.all(
    DEFECTS.map((d) => readFrames(bottle, `test/${d}`, DEFECT_FRAMES_EACH, true)),
  );
  // Round-robin over the defect kinds, a good frame between defective ones while good ones last.
  const bad: DemoFrame[] = [];
  for (let i = 0; i < DEFECT_FRAMES_EACH; i++) for (const kind of defects) if (kind[i]) bad.push(kind[i]);
  const stream: DemoFrame[] = [];
  while (good.length || bad.length) {
    if (good.length) stream.push(good.shift()!);
    if (bad.length) stream.push(bad.shift()!);
    if (bad.length && good.length < bad.length) stream.push(bad.shift()!);
  }
  return { enroll, stream };
}

/** A simulated camera: publishes frames on adp.frames.<station> at `fps`, with id and capture time headers. */
export async function publishFrames(
  nc: NatsConnection,
  station: string,
  frames: { id: string; frame: DemoFrame }[],
  fps: number,
): Promise<void> {
  const started = performance.now();
  for (const [i, { id, frame }] of frames.entries()) {
    const wait = started + (i * 1000) / fps - performance.now();
    if (wait > 0) await sleep(wait);
    const h = headers();
    h.set(Header.frameId, id);
    h.set(Header.capturedAt, new Date().toISOString());
    nc.publish(framesSubject(station), frame.bytes, { headers: h });
  }
  await nc.flush();
}
