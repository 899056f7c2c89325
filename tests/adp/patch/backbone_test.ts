/**
 * Feature extractors: the backbone description's validation, the proxy ONNX backbone at its own and
 * at other input sizes, a model whose output is not a feature map, and CLIP tokens as patches.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadBackboneConfig, parseBackboneConfig } from "../../../src/adp/patch/backbone_config.ts";
import { clipExtractor } from "../../../src/adp/patch/clip_extractor.ts";
import { openOnnxExtractor } from "../../../src/adp/patch/onnx_extractor.ts";
import type { PatchFeatures } from "../../../src/adp/patch/patch_features.ts";
import { ConfigError, ShapeError } from "../../../src/errors.ts";
import { GraphBuilder } from "../../../src/onnx/graph.ts";
import { reshape } from "../../../src/onnx/ops/shape.ts";
import { writeOnnxModel } from "../../../src/onnx/model_file.ts";
import { loadClip } from "../../../src/model/clip_model.ts";
import { loadImage } from "../../../src/eval/datasets.ts";
import { needsShared, sharedPath } from "../../_shared.ts";
import { modelDirWithVocab } from "../../model/_oracle.ts";
import { tempDir } from "../../_temp_dir.ts";

const PROXY = {
  name: "mobilenetv2-proxy",
  onnx: "mobilenetv2-features.onnx",
  input: "pixel_values",
  size: 224,
  resize: "whole",
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  outputs: ["features_14", "features_28"],
  layout: "NCHW",
};

/** Asserts a refusal in the guard's format, `field <field>[ [i]] <what>`, naming the file. */
function rejects(json: unknown, field: string, what = "must be "): void {
  const expected = new RegExp(`field ${field}(\\[\\d+\\])? ${what}`);
  assert.throws(
    () => parseBackboneConfig(json, { baseDir: "/m", source: "/m/backbone.json" }),
    (e) => e instanceof ConfigError && expected.test(e.message) && e.message.includes("/m/backbone.json"),
    `expected an error naming ${field}`,
  );
}

Deno.test("parseBackboneConfig() resolves the model beside the file and defaults the filter", () => {
  const c = parseBackboneConfig(PROXY, { baseDir: "/models/proxy" });
  assert.equal(c.onnx, "/models/proxy/mobilenetv2-features.onnx");
  assert.equal(c.interpolation, "bilinear");
  assert.deepEqual(c.outputs, ["features_14", "features_28"]);
  assert.equal(parseBackboneConfig({ ...PROXY, onnx: "/abs/m.onnx" }, { baseDir: "/x" }).onnx, "/abs/m.onnx");
});

Deno.test("parseBackboneConfig() names the field and the file of every invalid entry", () => {
  const without = (key: string) => Object.fromEntries(Object.entries(PROXY).filter(([k]) => k !== key));
  rejects(without("onnx"), "onnx");
  rejects(without("input"), "input");
  rejects({ ...PROXY, size: 0 }, "size");
  rejects({ ...PROXY, size: 22.5 }, "size");
  rejects({ ...PROXY, resize: "stretch" }, "resize");
  rejects({ ...PROXY, interpolation: "nearest" }, "interpolation");
  rejects({ ...PROXY, scale: -1 }, "scale");
  rejects({ ...PROXY, mean: [0, 0] }, "mean");
  rejects({ ...PROXY, std: [1, 0, 1] }, "std");
  rejects({ ...PROXY, outputs: [] }, "outputs");
  rejects({ ...PROXY, outputs: ["a", "a"] }, "outputs");
  rejects({ ...PROXY, layout: "NHWC" }, "layout");
  rejects({ ...PROXY, sise: 224 }, "backbone", 'has unknown field "sise"');
  assert.throws(() => parseBackboneConfig([1], { baseDir: "/" }), ConfigError);
});

Deno.test("loadBackboneConfig() reports a missing file and malformed JSON with the path", async () => {
  await using tmp = await tempDir("adp-backbone-");
  const dir = tmp.path;
  const path = join(dir, "backbone.json");
  await assert.rejects(
    () => loadBackboneConfig(path),
    (e) => e instanceof ConfigError && e.message.includes(path),
  );
  await Deno.writeTextFile(path, "{ not json");
  await assert.rejects(
    () => loadBackboneConfig(path),
    (e) => e instanceof ConfigError && /not valid JSON/.test(e.message),
  );
});

function assertUnitRows(f: PatchFeatures): void {
  for (let r = 0; r < f.n * f.gridH * f.gridW; r++) {
    let sq = 0;
    for (let k = 0; k < f.dim; k++) sq += f.data[r * f.dim + k] ** 2;
    assert.ok(Math.abs(Math.sqrt(sq) - 1) < 1e-4, `row ${r} has norm ${Math.sqrt(sq)}`);
  }
}

Deno.test({
  name: "openOnnxExtractor() gives the proxy's 14×14 grid of unit 128-wide patches, and 20×20 at 320 pixels",
  ...needsShared,
  async fn() {
    const frames = [
      await loadImage(sharedPath("datasets/mvtec-ad/bottle/train/good/000.png")),
      await loadImage(sharedPath("datasets/magnetic-tile/tile/train/good/exp1_num_1810.jpg")),
    ];
    const json = sharedPath("models/proxy/backbone.json");
    const base = await openOnnxExtractor(json, { device: "cpu", threads: 1 });
    try {
      const f = await base.extract(frames);
      assert.deepEqual([f.n, f.gridH, f.gridW, f.dim], [2, 14, 14, 128]);
      assertUnitRows(f);
    } finally {
      await base.dispose();
    }
    const big = await openOnnxExtractor(json, {
      device: "cpu",
      threads: 1,
      inputSize: { width: 320, height: 320 },
    });
    try {
      const f = await big.extract(frames.slice(0, 1));
      assert.deepEqual([f.gridH, f.gridW, f.dim], [20, 20, 128]);
    } finally {
      await big.dispose();
    }
    const aspect = await openOnnxExtractor(json, {
      device: "cpu",
      threads: 1,
      scale: 0.25,
      layers: [{ name: "features_14" }],
    });
    try {
      // 900×900 → 225 → 224 (a multiple of 16); the tile frame keeps its own shape.
      const [a, b] = await aspect.extractEach(frames);
      assert.deepEqual([a.gridH, a.gridW, a.dim], [14, 14, 96]);
      assert.notDeepEqual([b.gridH, b.gridW], [14, 14]);
      await assert.rejects(() => aspect.extract(frames), ShapeError);
    } finally {
      await aspect.dispose();
    }
    await assert.rejects(
      () => openOnnxExtractor(json, { device: "cpu", layers: [{ name: "features_99" }] }),
      (e) => e instanceof ConfigError && /features_99/.test(e.message),
    );
    const cfg = await loadBackboneConfig(json);
    await assert.rejects(
      () => openOnnxExtractor({ ...cfg, outputs: ["logits"] }, { device: "cpu" }),
      (e) => e instanceof ConfigError && /no output logits/.test(e.message),
    );
  },
});

Deno.test("openOnnxExtractor() refuses a model whose output is not an [N,C,H,W] feature map", async () => {
  await using tmp = await tempDir("adp-flat-");
  const dir = tmp.path;
  const g = new GraphBuilder("flat");
  const x = g.input("pixel_values", "float32", ["n", 3, 8, 8]);
  g.output("flat", reshape(x, [0, -1]));
  await writeOnnxModel(g, join(dir, "flat.onnx"));
  const config = parseBackboneConfig(
    { ...PROXY, name: "flat", onnx: "flat.onnx", size: 8, outputs: ["flat"] },
    { baseDir: dir },
  );
  await assert.rejects(
    () => openOnnxExtractor(config, { device: "cpu" }),
    (e) =>
      e instanceof ConfigError &&
      /flat is not a float \[N,C,H,W\] feature map: got \[1,192\]/.test(e.message),
  );
});

Deno.test({
  name: "clipExtractor() turns the tiny CLIP's block tokens into a 6×6 grid without the class token",
  ...needsShared,
  async fn() {
    await using fixture = await modelDirWithVocab("tiny-quickgelu-openclip");
    const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
    try {
      const extractor = clipExtractor(clip, { blocks: [0, 1] });
      const frame = await loadImage(sharedPath("fixtures/preprocess/images/2.png"));
      const f = await extractor.extract([frame, frame]);
      assert.deepEqual([f.n, f.gridH, f.gridW, f.dim], [2, 6, 6, 256]);
      assertUnitRows(f);
      // Patch 0 of block 1 is token 1, normalised, then scaled by 1/√2 by the final normalisation.
      const prepared = extractor.prepare(frame);
      assert.deepEqual([prepared.width, prepared.height], [96, 96]);
      const { preprocessRgb } = await import("../../../src/clip/preprocess.ts");
      const pixels = preprocessRgb(frame, { size: 96, mode: "resize" });
      const [tokens] = await clip.imageTokens(pixels, 1, [1]);
      const token = tokens.subarray(128, 256);
      const norm = Math.hypot(...token);
      for (let k = 0; k < 128; k++) {
        assert.ok(Math.abs(f.data[128 + k] - token[k] / norm / Math.SQRT2) < 1e-5, `element ${k}`);
      }
      assert.throws(() => clipExtractor(clip, { blocks: [3] }), ConfigError);
      // The last block runs on the class token alone.
      assert.throws(() => clipExtractor(clip, { blocks: [2] }), ConfigError);
      assert.throws(() => clipExtractor(clip, { blocks: [] }), ConfigError);
    } finally {
      await clip.dispose();
    }
  },
});

Deno.test({
  name: "openOnnxExtractor() with intensity auto standardises grey frames and leaves colour frames raw",
  ...needsShared,
  async fn() {
    const json = sharedPath("models/proxy/backbone.json");
    const colour = await loadImage(sharedPath("datasets/mvtec-ad/bottle/train/good/000.png"));
    const grey = await loadImage(sharedPath("datasets/magnetic-tile/tile/train/good/exp1_num_1810.jpg"));
    const run = async (intensity: "raw" | "standardise" | "auto") => {
      const e = await openOnnxExtractor(json, { device: "cpu", threads: 1, intensity });
      try {
        return await e.extractEach([colour, grey]);
      } finally {
        await e.dispose();
      }
    };
    const [raw, standard, auto] = [await run("raw"), await run("standardise"), await run("auto")];
    assert.deepEqual(auto[0].data, raw[0].data);
    assert.deepEqual(auto[1].data, standard[1].data);
    assert.notDeepEqual(raw[1].data, standard[1].data);
  },
});
