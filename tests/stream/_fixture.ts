/**
 * What the stream tests share: the tiny CLIP (random weights, real tokenizer) in a temporary folder,
 * real MVTec bottle frames, a profile enrolled once per test process, and small helpers to publish
 * frames and gather messages from a real nats-server.
 *
 * @module
 */
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { Image } from "imagescript";
import { writeRandomCheckpoint } from "../../src/clip/random_checkpoint.ts";
import { type ClipModel, loadClip } from "../../src/model/clip_model.ts";
import { enroll } from "../../src/adp/enroll.ts";
import { saveProfile, type StationProfile } from "../../src/adp/profile.ts";
import { requestEnrollment } from "../../src/stream/client.ts";
import type { EnrollProgressMessage, EnrollRequest } from "../../src/stream/messages.ts";
import { Header } from "../../src/stream/subjects.ts";
import { sharedPath } from "../_shared.ts";

/** The tiny model, loaded; removed with its folder on dispose. */
export interface TinyModel extends AsyncDisposable {
  clip: ClipModel;
  root: string;
}

/** Writes the tiny architecture (random weights, seed 0) with the real BPE vocabulary and loads it on the CPU. */
export async function tinyModel(): Promise<TinyModel> {
  const root = await Deno.makeTempDir({ prefix: "adp-stream-model-" });
  const dir = join(root, "tiny");
  await writeRandomCheckpoint(dir, { arch: "tiny", layout: "openclip" });
  await copyFile(
    sharedPath("fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz"),
    join(dir, "bpe_simple_vocab_16e6.txt.gz"),
  );
  const clip = await loadClip(dir, {
    device: "cpu",
    cacheDir: join(root, "cache"),
    log: () => {},
    threads: 2,
  });
  return {
    clip,
    root,
    async [Symbol.asyncDispose]() {
      await clip.dispose();
      await Deno.remove(root, { recursive: true });
    },
  };
}

const frameCache = new Map<number, Uint8Array>();

/** Good bottle frame `i` (0–47), a 900×900 PNG. */
export async function bottle(i: number): Promise<Uint8Array> {
  let bytes = frameCache.get(i);
  if (!bytes) {
    bytes = await Deno.readFile(
      sharedPath(`datasets/mvtec-ad/bottle/train/good/${String(i).padStart(3, "0")}.png`),
    );
    frameCache.set(i, bytes);
  }
  return bytes;
}

/** Good bottle frame 10 with a red square painted over x, y 100–300: a defect in its top-left corner. */
export async function paintedBottle(): Promise<Uint8Array> {
  const image = await Image.decode(await bottle(10));
  image.drawBox(101, 101, 200, 200, Image.rgbToColor(230, 20, 20));
  return await image.encode();
}

/**
 * A profile of the bottle from frames 0–3 (2 steps), enrolled once per process and patch backbone
 * (CLIP's tokens when none); a deep copy each call.
 */
export async function bottleProfile(
  clip: ClipModel,
  version = 1,
  backbone?: string,
): Promise<StationProfile> {
  const key = backbone ?? "";
  if (!enrolled.has(key)) {
    enrolled.set(
      key,
      enroll(clip, await Promise.all([0, 1, 2, 3].map(bottle)), {
        steps: 2,
        seed: 1,
        label: "bottle",
        backbone,
      }),
    );
  }
  const p = await enrolled.get(key)!;
  return {
    meta: { ...structuredClone(p.meta), version },
    concepts: { normal: p.concepts.normal.slice(), anomaly: p.concepts.anomaly.slice() },
    prototypes: { normal: p.prototypes.normal.slice(), anomaly: p.prototypes.anomaly.slice() },
    memory: p.memory.slice(),
  };
}
const enrolled = new Map<string, Promise<StationProfile>>();

/** A fresh state dir holding profiles for `stations`. */
export async function stateDirWith(
  clip: ClipModel,
  stations: Record<string, { version?: number; threshold?: number; backbone?: string }>,
) {
  const dir = await Deno.makeTempDir({ prefix: "adp-state-" });
  await mkdir(join(dir, "profiles"));
  for (const [station, o] of Object.entries(stations)) {
    const profile = await bottleProfile(clip, o.version ?? 1, o.backbone);
    profile.meta.station = station;
    if (o.threshold !== undefined) profile.meta.threshold = o.threshold;
    await saveProfile(join(dir, "profiles", `${station}.safetensors`), profile);
  }
  return dir;
}

/** Publishes a frame with a frame id (and a capture time). */
export function sendFrame(nc: NatsConnection, subject: string, bytes: Uint8Array, frameId?: string): void {
  const h = headers();
  if (frameId !== undefined) h.set(Header.frameId, frameId);
  h.set(Header.capturedAt, String(Date.now()));
  nc.publish(subject, bytes, { headers: h });
}

/** Messages on a subject, gathered as they come; `until` waits for a condition on them. */
export class Gather<T = unknown> {
  readonly items: T[] = [];
  readonly #sub;
  #waiters: { check: () => boolean; resolve: () => void }[] = [];

  constructor(nc: NatsConnection, subject: string, decode: (m: Msg) => T = (m) => m.json<T>()) {
    this.#sub = nc.subscribe(subject, {
      callback: (_e, m) => {
        this.items.push(decode(m));
        this.#waiters = this.#waiters.filter((w) => {
          if (!w.check()) return true;
          w.resolve();
          return false;
        });
      },
    });
  }

  /** Resolves when `check(items)` holds; rejects after `timeoutMs` saying what was gathered. */
  until(check: (items: T[]) => boolean, timeoutMs = 20_000, what = "messages"): Promise<T[]> {
    if (check(this.items)) return Promise.resolve(this.items);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}: have ${this.items.length}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(this.items);
      };
      this.#waiters.push({ check: () => check(this.items), resolve: done });
    });
  }

  /** Resolves once `n` messages have arrived. */
  count(n: number, timeoutMs?: number): Promise<T[]> {
    return this.until((items) => items.length >= n, timeoutMs, `${n} messages`);
  }

  stop(): void {
    this.#sub.unsubscribe();
  }
}

/**
 * Enrolls `station` as a client does (`requestEnrollment`), starting `feed` once the job is accepted
 * (it publishes the frames the job collects; `ended()` tells it the job is over), and resolves
 * with the job's last progress message; `onProgress` sees each one as it comes.
 */
export async function enrollAndFeed(
  nc: NatsConnection,
  station: string,
  request: EnrollRequest,
  feed: (ended: () => boolean) => Promise<void>,
  onProgress?: (p: EnrollProgressMessage) => void,
): Promise<EnrollProgressMessage> {
  let ended = false;
  let feeding = Promise.resolve();
  let last: EnrollProgressMessage | undefined;
  try {
    const job = requestEnrollment(nc, station, request, {
      // A bound, not a timing: a 16-shot job on a loaded 2-core machine takes a minute.
      timeoutMs: 120_000,
      onAccepted: () => feeding = feed(() => ended),
    });
    for await (const p of job) {
      onProgress?.(p);
      last = p;
    }
  } finally {
    ended = true;
    await feeding;
  }
  return last!;
}

/** Waits `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
