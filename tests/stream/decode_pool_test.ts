/**
 * The decode pool's workers prepare frames exactly as the main thread would: the same CLIP input
 * and the same backbone input, bit for bit, from a real MVTec frame.
 */
import assert from "node:assert/strict";
import { decodeImage } from "../../src/image/decode.ts";
import { type FramePreparation, prepareFrame } from "../../src/adp/frame_input.ts";
import { DecodePool } from "../../src/stream/decode_pool.ts";
import { needsShared, sharedPath } from "../_shared.ts";

const PREPARATION: FramePreparation = {
  clip: { size: 224, mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] },
  patchInputs: [
    { key: "squash", width: 224, height: 224, resize: "whole", interpolation: "bilinear" },
    { key: "crop", width: 160, height: 160, resize: "crop", interpolation: "bicubic" },
  ],
};

Deno.test({
  name: "DecodePool.decode() prepares a frame in the worker bit for bit as prepareFrame() does here",
  ...needsShared,
  async fn() {
    const pool = new DecodePool(1);
    try {
      const bytes = await Deno.readFile(sharedPath("datasets/mvtec-ad/bottle/test/broken_large/000.png"));
      const { image, prepared } = await pool.decode(bytes, 4_000_000, PREPARATION);
      const here = prepareFrame(await decodeImage(bytes), PREPARATION);
      assert.equal(image.width, 900);
      assert.ok(prepared);
      assert.deepEqual([prepared.width, prepared.height], [900, 900]);
      assert.deepEqual(prepared.clipPixels, here.clipPixels);
      for (const key of ["squash", "crop"]) {
        assert.deepEqual(prepared.patchInputs[key], here.patchInputs[key], key);
      }
      assert.equal(prepared.patchInputs.crop.width, 160);
      const plain = await pool.decode(bytes, 4_000_000);
      assert.equal(plain.prepared, undefined);
    } finally {
      pool.terminate();
    }
  },
});
