/**
 * Enrollment with Stable Diffusion pseudo-anomalies on the tiny oracle CLIP (text width 128) and the
 * tiny random SD (text width 128, so the normal-aware concept is injected into its prompts), real
 * bottle shots: the stages run in SD's order with per-image progress, the profile records `sd`, and
 * without a model the request falls back to procedural with one line.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { enroll } from "../../src/adp/enroll.ts";
import { type EnrollProgress, SD_ENROLL_STAGES } from "../../src/adp/enroll_progress.ts";
import { loadProfile, saveProfile } from "../../src/adp/profile.ts";
import { loadStableDiffusion, writeTinyStableDiffusion } from "../../src/diffusion/mod.ts";
import { loadClip } from "../../src/model/clip_model.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";
import { modelDirWithVocab } from "../model/_oracle.ts";

/** 4 of 8 DDIM steps at 32 px: the 32 pseudo-anomalies of two shots take a few seconds on 2 cores. */
const FAST_SDEDIT = { strength: 0.5, steps: 8, guidance: 3, size: 32 };

async function bottleShots(): Promise<Uint8Array[]> {
  return await Promise.all(
    [0, 1].map((i) => Deno.readFile(sharedPath(`datasets/mvtec-ad/bottle/train/good/00${i}.png`))),
  );
}

Deno.test({
  name: "enroll() with synth sd learns c_n* first, reports SDEdit per image, and records sd",
  ...needsShared,
  async fn() {
    await using fixture = await modelDirWithVocab("tiny-gelu-hf");
    await using tmp = await tempDir("adp-enroll-sd-");
    await writeTinyStableDiffusion(join(tmp.path, "sd"), { seed: 4 });
    const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
    const diffusion = await loadStableDiffusion(join(tmp.path, "sd"), {
      device: "cpu",
      cacheDir: join(tmp.path, "cache"),
      log: () => {},
    });
    try {
      const progress: EnrollProgress[] = [];
      const lines: string[] = [];
      const profile = await enroll(clip, await bottleShots(), {
        steps: 2,
        seed: 3,
        synth: "sd",
        diffusion,
        sdedit: FAST_SDEDIT,
        log: (line) => lines.push(line),
        onProgress: (p) => progress.push(p),
      });
      assert.deepEqual(lines, [], "the concept fits the SD text encoder: nothing to say");
      assert.deepEqual([...new Set(progress.map((p) => p.stage))], [...SD_ENROLL_STAGES]);
      for (let i = 1; i < progress.length; i++) {
        assert.ok(progress[i].percent >= progress[i - 1].percent - 1e-9, `progress ${i} rises`);
      }
      const perImage = progress.filter((p) =>
        p.stage === "pseudo-anomalies" && /sd: \d+ of 32/.test(p.message)
      );
      assert.ok(perImage.length >= 8, `per-batch progress: ${perImage.length} reports`);
      assert.match(perImage.at(-1)!.message, /sd: 32 of 32/);
      assert.ok(perImage.every((p) => p.etaSeconds !== null), "each has an ETA");
      assert.equal(profile.meta.enrollment.synthesizer, "sd");
      assert.equal(profile.meta.enrollment.pseudoAnomalies, 16);
      const file = join(tmp.path, "p.safetensors");
      await saveProfile(file, profile);
      assert.equal((await loadProfile(file)).meta.enrollment.synthesizer, "sd");
    } finally {
      await diffusion.release();
      await clip.dispose();
    }
  },
});

Deno.test({
  name: "enroll() with synth sd but no model says so in one line and records procedural",
  ...needsShared,
  async fn() {
    await using fixture = await modelDirWithVocab("tiny-gelu-hf");
    const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
    try {
      const lines: string[] = [];
      const profile = await enroll(clip, await bottleShots(), {
        steps: 1,
        synth: "sd",
        log: (line) => lines.push(line),
      });
      assert.equal(lines.length, 1);
      assert.match(lines[0], /--synth sd asked for, but no Stable Diffusion model is loaded.*procedural/);
      assert.equal(profile.meta.enrollment.synthesizer, "procedural");
    } finally {
      await clip.dispose();
    }
  },
});
