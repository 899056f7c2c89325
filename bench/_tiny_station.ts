/**
 * The station the service benches score: a random tiny CLIP (with the oracle's vocabulary) enrolled
 * on two good bottles, its profile in a fresh state dir, and 16 real 900×900 bottle frames to send.
 * The tiny model leaves the service's own work (bus, decode, metrics, bridges) the largest share.
 *
 * @module
 */
import { join } from "node:path";
import { copyFile } from "node:fs/promises";
import { writeRandomCheckpoint } from "../src/clip/random_checkpoint.ts";
import { loadClip } from "../src/model/clip_model.ts";
import type { ClipModel } from "../src/model/mod.ts";
import { enroll } from "../src/adp/enroll.ts";
import { saveProfile } from "../src/adp/profile.ts";
import { sharedPath } from "../tests/_shared.ts";

/** A model folder, a state dir holding the station's profile, the model loaded, and frames. */
export interface TinyStation {
  modelDir: string;
  stateDir: string;
  /** Loaded with its graphs cached in `<root>/cache` (dispose it when done). */
  clip: ClipModel;
  frames: Uint8Array[];
}

/** Writes the model and enrolls `station` under `root`. Needs ../shared. */
export async function prepareTinyStation(root: string, station: string): Promise<TinyStation> {
  const modelDir = join(root, "tiny");
  await writeRandomCheckpoint(modelDir, { arch: "tiny", layout: "openclip" });
  await copyFile(
    sharedPath("fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz"),
    join(modelDir, "bpe_simple_vocab_16e6.txt.gz"),
  );
  const clip = await loadClip(modelDir, { device: "cpu", cacheDir: join(root, "cache"), log: () => {} });
  const frames = await Promise.all(
    Array.from(
      { length: 16 },
      (_, i) =>
        Deno.readFile(sharedPath(`datasets/mvtec-ad/bottle/train/good/${String(i).padStart(3, "0")}.png`)),
    ),
  );
  const stateDir = join(root, "state");
  await Deno.mkdir(join(stateDir, "profiles"), { recursive: true });
  const profile = await enroll(clip, frames.slice(0, 2), { steps: 1, seed: 1, station });
  await saveProfile(join(stateDir, "profiles", `${station}.safetensors`), profile);
  return { modelDir, stateDir, clip, frames };
}
