/**
 * The vision graph at int8 and fp16 against float32 on the oracle models (../shared/fixtures/
 * clip-oracle), and the precision carried through loading and the graph cache.
 *
 * Measured on the oracle's three images (onnxruntime 1.30 CPU, AVX-512 VNNI), worst image:
 *
 * | model                   | int8 cosine | int8 max abs | fp16 cosine | fp16 max abs | max abs feature |
 * | ----------------------- | ----------- | ------------ | ----------- | ------------ | --------------- |
 * | tiny-quickgelu-openclip | 0.99971     | 8.5e-2       | 1.00000     | 3.9e-4       | 2.84            |
 * | tiny-gelu-hf            | 0.99984     | 5.1e-2       | 1.00000     | 3.0e-4       | 3.13            |
 *
 * The acceptance bound is a cosine of 0.999 per image. The max abs bounds leave ~1.5× over those
 * figures (int8 rounding differs between integer kernels: VNNI, AVX2, NEON); a real defect (a
 * wrong scale axis, a transposed weight) misses them by O(1).
 */
import assert from "node:assert/strict";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { loadClip } from "../../src/model/clip_model.ts";
import type { Precision } from "../../src/model/precision.ts";
import { openSafetensors } from "../../src/clip/safetensors.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { maxAbsDiff } from "../_numeric.ts";
import { modelDirWithVocab, oracleModels } from "./_oracle.ts";

const MIN_COSINE = 0.999;
const MAX_ABS: Record<Exclude<Precision, "fp32">, number> = { int8: 0.13, fp16: 6e-4 };

/** The smallest per-row cosine between two [n, e] matrices. */
function worstCosine(a: Float32Array, b: Float32Array, e: number): number {
  let worst = 1;
  for (let i = 0; i < a.length / e; i++) {
    let dot = 0, na = 0, nb = 0;
    for (let k = i * e; k < (i + 1) * e; k++) {
      dot += a[k] * b[k];
      na += a[k] * a[k];
      nb += b[k] * b[k];
    }
    worst = Math.min(worst, dot / Math.sqrt(na * nb));
  }
  return worst;
}

const fixtureLayouts = oracleModels().filter((m, i, all) => all.findIndex((o) => o.name === m.name) === i);

for (const model of fixtureLayouts) {
  Deno.test({
    name: `loadClip() at int8 and fp16 keeps ${model.name}'s image features within cosine 0.999 of fp32`,
    ...needsShared,
    async fn() {
      await using fixture = await modelDirWithVocab(model.name);
      using ref = await openSafetensors(
        sharedPath("fixtures/clip-oracle", model.name, "reference.safetensors"),
      );
      const pixels = (await ref.read("pixel_values")).data;
      const features: Partial<Record<Precision, Float32Array>> = {};
      for (const precision of ["fp32", "int8", "fp16"] as const) {
        const clip = await loadClip(fixture.dir, {
          device: "cpu",
          cacheDir: fixture.cacheDir,
          precision,
          log: () => {},
        });
        try {
          assert.equal(clip.precision, precision);
          features[precision] = await clip.encodeImage(pixels, 3);
          const tokens = await clip.imageTokens(pixels, 3, [0]);
          assert.ok(tokens[0] instanceof Float32Array, "intermediate tokens come back as float32");
        } finally {
          await clip.dispose();
        }
      }
      const e = features.fp32!.length / 3;
      for (const precision of ["int8", "fp16"] as const) {
        const cosine = worstCosine(features[precision]!, features.fp32!, e);
        const abs = maxAbsDiff(features[precision]!, features.fp32!);
        assert.ok(cosine >= MIN_COSINE, `${precision}: worst cosine ${cosine.toFixed(6)} < ${MIN_COSINE}`);
        assert.ok(abs <= MAX_ABS[precision], `${precision}: max abs error ${abs.toExponential(2)}`);
        assert.ok(abs > 0, `${precision}: features identical to fp32, so the graph was not reduced`);
      }
    },
  });
}

Deno.test({
  name: "loadClip() caches one vision graph per precision, int8 weights a quarter of fp32's",
  ...needsShared,
  async fn() {
    await using fixture = await modelDirWithVocab("tiny-gelu-hf");
    const built: string[] = [];
    for (const precision of ["fp32", "int8", "fp32", "fp16"] as const) {
      const clip = await loadClip(fixture.dir, {
        device: "cpu",
        cacheDir: fixture.cacheDir,
        precision,
        log: (l) => l.startsWith("built the") && built.push(l),
      });
      await clip.dispose();
    }
    assert.deepEqual(built.map((l) => l.split(" graph")[0]), [
      "built the fp32 vision",
      "built the text",
      "built the int8 vision",
      "built the fp16 vision",
    ]);
    const graphs = join(fixture.cacheDir, "graphs");
    const dirs = await readdir(graphs);
    const bytes = async (p: Precision) =>
      (await stat(join(graphs, dirs.find((d) => d.includes(`-vision-${p}-`))!, "model.onnx.data"))).size;
    const [fp32, int8, fp16] = [await bytes("fp32"), await bytes("int8"), await bytes("fp16")];
    assert.ok(int8 < 0.4 * fp32, `int8 weights ${int8} bytes vs fp32 ${fp32}`);
    assert.ok(fp16 < 0.6 * fp32, `fp16 weights ${fp16} bytes vs fp32 ${fp32}`);
  },
});

Deno.test({
  name: "loadClip() builds float32 when no precision is asked for",
  ...needsShared,
  async fn() {
    await using fixture = await modelDirWithVocab("tiny-gelu-hf");
    const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
    try {
      assert.equal(clip.precision, "fp32");
    } finally {
      await clip.dispose();
    }
  },
});
