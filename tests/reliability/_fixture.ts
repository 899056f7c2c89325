/**
 * What the reliability tests share: a tiny CLIP on disk that a child `adp serve` can load too (its
 * graph cache warmed under an XDG folder), a profile enrolled on it from real bottle frames, and a
 * state dir holding that profile.
 *
 * @module
 */
import { join } from "node:path";
import { enroll } from "../../src/adp/enroll.ts";
import { saveProfile, type StationProfile } from "../../src/adp/profile.ts";
import { type ClipModel, loadClip } from "../../src/model/clip_model.ts";
import { type TinyModelDir, writeTinyModel } from "../../bench/soak/service.ts";
import { sharedPath } from "../_shared.ts";

/** The tiny model, on disk and loaded; its folder goes on dispose. */
export interface ReliabilityModel extends TinyModelDir, AsyncDisposable {
  clip: ClipModel;
  root: string;
}

/** Writes the tiny model, warms its graph cache for child processes and loads it here. */
export async function reliabilityModel(): Promise<ReliabilityModel> {
  const root = await Deno.makeTempDir({ prefix: "adp-reliability-" });
  const model = await writeTinyModel(
    root,
    sharedPath("fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz"),
  );
  const clip = await loadClip(model.dir, {
    device: "cpu",
    cacheDir: join(model.xdg, "adp-edge"),
    log: () => {},
    threads: 1,
  });
  return {
    ...model,
    clip,
    root,
    async [Symbol.asyncDispose]() {
      await clip.dispose();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** Good bottle frame `i` (0–47), a 900×900 PNG. */
export function bottle(i: number): Promise<Uint8Array> {
  return Deno.readFile(sharedPath(`datasets/mvtec-ad/bottle/train/good/${String(i).padStart(3, "0")}.png`));
}

/** A profile of the bottle enrolled from frames 0–1 (1 step) on `clip`. */
export async function bottleProfile(clip: ClipModel, station: string, version = 1): Promise<StationProfile> {
  const profile = await enroll(clip, await Promise.all([0, 1].map(bottle)), {
    steps: 1,
    seed: 1,
    station,
    version,
  });
  return profile;
}

/** A fresh state dir with one enrolled profile per station. */
export async function stateDirWith(clip: ClipModel, stations: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "adp-reliability-state-" });
  await Deno.mkdir(join(dir, "profiles"));
  for (const station of stations) {
    await saveProfile(join(dir, "profiles", `${station}.safetensors`), await bottleProfile(clip, station));
  }
  return dir;
}

/** sha256 of a file, hex. */
export async function fileSha256(path: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
