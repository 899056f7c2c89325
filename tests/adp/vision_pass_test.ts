/**
 * The vision pass: the patch features its graph computes against the reference normalisation of the
 * block tokens in JavaScript (`clipPatchFeatures`), on a random tiny CLIP with four vision blocks,
 * so that the patch blocks are two (1 and 2) and the joint normalisation is exercised.
 *
 * Tolerance 1e-6: the vectors are unit (elements ≤ 1) and both sides normalise float32 tokens; they
 * differ only in the summation order and width of the squared norms.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { getArchitecture } from "../../src/clip/architectures.ts";
import { writeRandomCheckpoint } from "../../src/clip/random_checkpoint.ts";
import { type ClipModel, loadClip, type Precision } from "../../src/model/mod.ts";
import { clipPatchFeatures } from "../../src/adp/patch/clip_extractor.ts";
import { passPatchFeatures, runVisionPass, selectFromPass } from "../../src/adp/vision_pass.ts";
import { Random } from "../../src/random.ts";
import { assertClose } from "../_numeric.ts";
import { tempDir } from "../_temp_dir.ts";

const TOL = 1e-6;

async function withFourBlockClip(
  precision: Precision,
  fn: (clip: ClipModel) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir();
  const tiny = getArchitecture("tiny");
  const arch = { ...tiny, vision: { ...tiny.vision, layers: 4 } };
  await writeRandomCheckpoint(dir.path, { arch, layout: "openclip", seed: 3 });
  const clip = await loadClip(dir.path, {
    device: "cpu",
    precision,
    cacheDir: join(dir.path, "cache"),
    log: () => {},
  });
  try {
    await fn(clip);
  } finally {
    await clip.dispose();
  }
}

function randomPixels(clip: ClipModel, n: number, seed: number): Float32Array {
  const side = clip.config.vision.imageSize;
  const rng = new Random(seed);
  return Float32Array.from({ length: n * 3 * side * side }, () => rng.uniform(-2, 2));
}

for (const precision of ["fp32", "int8"] as const) {
  Deno.test(`the ${precision} vision graph's patch features are its patch blocks' tokens normalised`, async () => {
    await withFourBlockClip(precision, async (clip) => {
      assert.deepEqual(clip.patchBlocks, [1, 2]);
      const pixels = randomPixels(clip, 3, 1);
      const out = await clip.runVision(pixels, 3, { patchFeatures: true, blocks: [...clip.patchBlocks] });
      const reference = clipPatchFeatures(clip, out.tokens!, 3);
      assert.equal(out.patchFeatures!.length, reference.data.length);
      assertClose(out.patchFeatures!, reference.data, TOL, "patch features");
    });
  });
}

Deno.test("runVisionPass() takes the patch blocks' features from the graph, in any batching, and selects rows", async () => {
  await withFourBlockClip("fp32", async (clip) => {
    const side = clip.config.vision.imageSize, per = 3 * side * side;
    const pixels = randomPixels(clip, 3, 2);
    const frames = [0, 1, 2].map((i) => ({ clipPixels: pixels.subarray(i * per, (i + 1) * per) }));
    const pass = await runVisionPass(clip, frames, [2, 1, 2]);
    assert.deepEqual(pass.tokens, []);
    assert.ok(pass.patchFeatures);
    // A superset of blocks is read as tokens and normalised in JavaScript: the same features.
    const viaTokens = await runVisionPass(clip, frames, [0, 1, 2], { batch: 2 });
    assert.equal(viaTokens.patchFeatures, undefined);
    const graph = passPatchFeatures(clip, pass, clip.patchBlocks);
    assertClose(
      graph.data,
      passPatchFeatures(clip, viaTokens, clip.patchBlocks).data,
      TOL,
      "graph vs tokens",
    );
    const split = await runVisionPass(clip, frames, clip.patchBlocks, { batch: 2 });
    assertClose(split.patchFeatures!, pass.patchFeatures, TOL, "batch 2 vs 8");
    const picked = passPatchFeatures(clip, selectFromPass(pass, [2, 0]), clip.patchBlocks);
    const cells = graph.gridH * graph.gridW * graph.dim;
    assertClose(picked.data.subarray(0, cells), graph.data.subarray(2 * cells, 3 * cells), 0, "row 2");
    assertClose(picked.data.subarray(cells), graph.data.subarray(0, cells), 0, "row 0");
    assert.throws(() => passPatchFeatures(clip, pass, [1]), RangeError);
  });
});
