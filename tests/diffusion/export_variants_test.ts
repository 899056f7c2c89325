/**
 * loadStableDiffusion() adapts to how exports differ, as read from the models themselves: a float16
 * UNet (fed and fetched in float16), a float32 timestep of fixed length 1 (diffusers' own export
 * script) instead of Optimum's int64 [steps], and a VAE encoder whose output is the older
 * `latent_sample`. Stand-in graphs with those signatures compute values the test can predict.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadStableDiffusion, SD_LAYOUT, writeTinyStableDiffusion } from "../../src/diffusion/mod.ts";
import { GraphBuilder } from "../../src/onnx/graph.ts";
import { add, cast, mul } from "../../src/onnx/ops/elementwise.ts";
import { serializeOnnxModel } from "../../src/onnx/model_file.ts";
import { reduceMean } from "../../src/onnx/ops/reduce.ts";
import { concat, slice, unsqueeze } from "../../src/onnx/ops/shape.ts";
import { averagePool } from "../../src/onnx/ops/spatial.ts";
import { tempDir } from "../_temp_dir.ts";
import { assertClose } from "../_numeric.ts";

/** out_sample = sample + timestep/1000 + mean(encoder_hidden_states), in float16. */
function float16Unet(width: number): GraphBuilder {
  const g = new GraphBuilder("unet_f16");
  const sample = g.input("sample", "float16", ["batch", 4, "h", "w"]);
  const timestep = g.input("timestep", "float32", [1]);
  const context = g.input("encoder_hidden_states", "float16", ["batch", 77, width]);
  const contextMean = unsqueeze(reduceMean(cast(context, "float32"), [1, 2], { keepDims: true }), [3]);
  const shifted = add(add(cast(sample, "float32"), mul(timestep, g.scalar(1e-3))), contextMean);
  g.output("out_sample", cast(shifted, "float16"));
  return g;
}

/** latent_sample = each 8×8 block's mean of channels 0, 1, 2, 0: an older export's output name. */
function olderVaeEncoder(): GraphBuilder {
  const g = new GraphBuilder("vae_encoder_older");
  const sample = g.input("sample", "float32", ["batch", 3, "h", "w"]);
  const pooled = averagePool(sample, { kernel: 8, stride: 8, pad: 0 });
  g.output("latent_sample", concat([pooled, slice(pooled, [0], [1], [1])], 1));
  return g;
}

Deno.test("loadStableDiffusion() feeds a float16 UNet with a float32 [1] timestep, and reads latent_sample", async () => {
  await using tmp = await tempDir("adp-sd-variants-");
  const tiny = await writeTinyStableDiffusion(tmp.path, { seed: 0 });
  await Deno.writeFile(
    join(tmp.path, SD_LAYOUT.unet),
    await serializeOnnxModel(float16Unet(tiny.config.hiddenSize)),
  );
  await Deno.writeFile(join(tmp.path, SD_LAYOUT.vaeEncoder), await serializeOnnxModel(olderVaeEncoder()));
  const sd = await loadStableDiffusion(tmp.path, {
    device: "cpu",
    cacheDir: join(tmp.path, "cache"),
    log: () => {},
  });
  try {
    assert.equal(sd.precision, "fp16");
    const cond = await sd.conditioning(["a photo of a damaged sks", "a photo of the object"]);
    const latents = Float32Array.from({ length: 2 * 4 * 2 * 3 }, (_, i) => (i - 10) / 8); // exact in float16
    const v = await sd.predict(latents, [2, 4, 2, 3], 500, cond);
    const per = 77 * tiny.config.hiddenSize;
    const expected = Array.from(latents, (x, i) => {
      const b = i < latents.length / 2 ? 0 : 1;
      const mean = cond.subarray(b * per, (b + 1) * per).reduce((a, c) => a + c, 0) / per;
      return x + 0.5 + mean;
    });
    // float16 rounding of the conditioning (relative 2^-11 per value, averaged) and of the output
    // (values up to ~2, so 2^-10): 2e-3 bounds both.
    assertClose(v, expected, 2e-3, "float16 UNet");

    const image = Float32Array.from({ length: 3 * 16 * 8 }, (_, i) => Math.sin(i));
    const mean = await sd.encode(image, [1, 3, 16, 8]);
    const block = (c: number, row: number) => {
      let sum = 0;
      for (let y = 8 * row; y < 8 * row + 8; y++) {
        for (let x = 0; x < 8; x++) sum += image[(c * 16 + y) * 8 + x];
      }
      return sum / 64;
    };
    assertClose(mean, [0, 1, 2, 0].flatMap((c) => [block(c, 0), block(c, 1)]), 1e-6, "latent_sample");
  } finally {
    await sd.release();
  }
});
