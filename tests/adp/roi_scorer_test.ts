/**
 * A station profile's region of interest in the real scorer: a painted defect flags a bottle frame
 * until it lies in an ignored area; the map is exactly 0 wherever the region excludes; a profile
 * keeps its region through save and load.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createScorer,
  enroll,
  insideRoi,
  loadProfile,
  type RegionOfInterest,
  saveProfile,
  type StationProfile,
} from "../../src/adp/mod.ts";
import { decodeImage, type Rgb8Image } from "../../src/image/mod.ts";
import { loadClip } from "../../src/model/mod.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";

const BOTTLE = "datasets/mvtec-ad/bottle";
/** Where the defect is painted on the 900×900 frame. */
const DEFECT = { x0: 120, y0: 120, x1: 300, y1: 300 };

/** `image` with a striped red-and-white square painted over DEFECT. */
function paintDefect(image: Rgb8Image): Rgb8Image {
  const data = image.data.slice();
  for (let y = DEFECT.y0; y < DEFECT.y1; y++) {
    for (let x = DEFECT.x0; x < DEFECT.x1; x++) {
      const at = (y * image.width + x) * 3, white = Math.floor(x / 12) % 2 === 0;
      data.set(white ? [255, 255, 255] : [230, 20, 20], at);
    }
  }
  return { ...image, data };
}

const withRoi = (profile: StationProfile, roi: RegionOfInterest): StationProfile => ({
  ...profile,
  meta: { ...structuredClone(profile.meta), roi },
});

Deno.test({
  name:
    "an ROI zeroes the excluded map and patch scores: a defect in an ignored area no longer flags the frame",
  ...needsShared,
  async fn() {
    await using dir = await tempDir();
    const clip = await loadClip(sharedPath("fixtures/clip-oracle/tiny-gelu-hf"), {
      device: "cpu",
      vocab: sharedPath("fixtures/clip-oracle/tokenizer"),
      cacheDir: join(dir.path, "cache"),
      log: () => {},
    });
    try {
      const shots = await Promise.all(
        ["000", "001"].map((n) => Deno.readFile(sharedPath(`${BOTTLE}/train/good/${n}.png`))),
      );
      const enrolled = await enroll(clip, shots, { steps: 1, seed: 2, station: "line-1" });
      const good = await decodeImage(await Deno.readFile(sharedPath(`${BOTTLE}/test/good/000.png`)));
      const painted = paintDefect(good);

      const plain = createScorer(clip, enrolled);
      const [goodPlain, paintedPlain] = await plain.scoreRgb([good, painted]);
      await plain.dispose();
      assert.ok(
        paintedPlain.score > goodPlain.score + 1,
        `the painted defect stands out: ${paintedPlain.score}`,
      );
      // The region is on trial here, not the calibration (two shots of a random tiny CLIP): the
      // threshold sits halfway between the good frame and the painted one.
      const threshold = (goodPlain.score + paintedPlain.score) / 2;
      const profile = { ...enrolled, meta: { ...enrolled.meta, threshold } };

      const margin = 40;
      const ignore: RegionOfInterest = {
        ignore: [[[DEFECT.x0 - margin, DEFECT.y0 - margin], [DEFECT.x1 + margin, DEFECT.y0 - margin], [
          DEFECT.x1 + margin,
          DEFECT.y1 + margin,
        ], [DEFECT.x0 - margin, DEFECT.y1 + margin]]],
      };
      const masked = createScorer(clip, withRoi(profile, ignore));
      const [goodMasked, paintedMasked] = await masked.scoreRgb([good, painted]);
      await masked.dispose();
      assert.ok(!paintedMasked.anomalous, `ignored, the defect passes: ${paintedMasked.score}`);
      assert.ok(paintedMasked.patchScore < paintedPlain.patchScore);
      assert.ok(goodMasked.score <= goodPlain.score + 1e-9, "a region never raises a frame's score");
      for (const s of [goodMasked, paintedMasked]) {
        assertMapZeroOutside(s, ignore, good);
        assert.ok(s.map.some((v) => v > 0), "the inspected area keeps its map");
      }

      // An include polygon: the map is 0 outside it, and a file keeps the region.
      const include: RegionOfInterest = { include: [[[300, 200], [700, 200], [700, 800], [300, 800]]] };
      const file = join(dir.path, "p.safetensors");
      await saveProfile(file, withRoi(profile, include));
      const loaded = await loadProfile(file);
      assert.deepEqual(loaded.meta.roi, include);
      const included = createScorer(clip, loaded);
      const [paintedIncluded] = await included.scoreRgb([painted]);
      await included.dispose();
      assertMapZeroOutside(paintedIncluded, include, good);
      assert.ok(!paintedIncluded.anomalous, "the defect lies outside the inspected area");
    } finally {
      await clip.dispose();
    }
  },
});

/** Every map pixel whose centre the region excludes is exactly 0. */
function assertMapZeroOutside(
  s: { map: Float32Array; mapWidth: number; mapHeight: number },
  roi: RegionOfInterest,
  frame: { width: number; height: number },
): void {
  const sx = frame.width / s.mapWidth, sy = frame.height / s.mapHeight;
  let excluded = 0;
  for (let y = 0; y < s.mapHeight; y++) {
    for (let x = 0; x < s.mapWidth; x++) {
      if (insideRoi(roi, (x + 0.5) * sx, (y + 0.5) * sy)) continue;
      excluded++;
      assert.equal(s.map[y * s.mapWidth + x], 0, `map pixel ${x},${y}`);
    }
  }
  assert.ok(excluded > 0);
}
