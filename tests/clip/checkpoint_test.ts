import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ErrorCode, ShapeError, WeightsError } from "../../src/errors.ts";
import { getArchitecture } from "../../src/clip/architectures.ts";
import { type Checkpoint, HASH_CACHE_FILE, openCheckpoint } from "../../src/clip/checkpoint.ts";
import { layoutTensors } from "../../src/clip/checkpoint_layout.ts";
import { CLIP_MEAN, CLIP_STD, type ClipConfig } from "../../src/clip/config.ts";
import { type FloatDtype, openSafetensors } from "../../src/clip/safetensors.ts";
import { type TensorToWrite, writeSafetensors } from "../../src/clip/safetensors_writer.ts";
import { writeRandomCheckpoint } from "../../src/clip/random_checkpoint.ts";
import type { ClipWeights } from "../../src/clip/weights.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";

const ORACLE = "fixtures/clip-oracle";
const FIXTURES = [
  { folder: "tiny-quickgelu-openclip", layout: "openclip", weights: "open_clip_model.safetensors" },
  { folder: "tiny-gelu-hf", layout: "hf", weights: "model.safetensors" },
] as const;
const END_OF_TEXT = 49407;

/** The facts the README and reference.json state about the oracle models. */
async function expectedOracleConfig(folder: string): Promise<ClipConfig> {
  const ref = JSON.parse(await Deno.readTextFile(sharedPath(ORACLE, folder, "reference.json")));
  assert.ok(ref.activation === "quick_gelu" || ref.activation === "gelu");
  return {
    embedDim: 64,
    activation: ref.activation,
    vision: {
      imageSize: 96,
      patchSize: 16,
      width: 128,
      layers: 3,
      heads: 2,
      mlpWidth: 512,
      layerNormEps: 1e-5,
    },
    text: {
      contextLength: 77,
      vocabSize: 49408,
      width: 128,
      layers: 3,
      heads: 4,
      mlpWidth: 512,
      layerNormEps: 1e-5,
    },
    preprocess: { mean: [...CLIP_MEAN], std: [...CLIP_STD] },
  };
}

/** The shape of every tensor in canonical weights, as a nested structure. */
function shapeTree(w: ClipWeights): unknown {
  return JSON.parse(JSON.stringify(w, (_k, v) => (v instanceof Float32Array ? v.length : v)));
}

function weightsError(file: string, tensor: string | undefined, code: ErrorCode) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof WeightsError, `expected a WeightsError, got ${err}`);
    assert.equal(err.code, code);
    assert.equal(err.file, file);
    assert.ok(err.message.includes(file), `message does not name the file: ${err.message}`);
    if (tensor) {
      assert.equal(err.tensor, tensor);
      assert.ok(err.message.includes(`"${tensor}"`), `message does not name the tensor: ${err.message}`);
    }
    assert.match(err.message, /^[A-Z].*[^.]$/s);
    return true;
  };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  await using tmp = await tempDir("checkpoint_test_");
  const dir = tmp.path;
  await fn(dir);
}

/** Copies a weights file, leaving out and adding tensors. */
async function rewrite(
  src: string,
  dst: string,
  opts: { drop?: string; add?: TensorToWrite[] } = {},
): Promise<void> {
  using st = await openSafetensors(src);
  const tensors: TensorToWrite[] = [...st.header]
    .filter(([name]) => name !== opts.drop)
    .map(([name, e]) => ({
      name,
      shape: e.shape,
      dtype: e.dtype as FloatDtype,
      data: async () => (await st.read(name)).data,
    }));
  await writeSafetensors(dst, [...tensors, ...(opts.add ?? [])]);
}

for (const { folder, layout } of FIXTURES) {
  Deno.test({
    name: `openCheckpoint() reads the ${folder} oracle with the config reference.json describes`,
    ...needsShared,
    fn: async () => {
      using ckpt = await openCheckpoint(sharedPath(ORACLE, folder));
      assert.equal(ckpt.layout, layout);
      assert.deepEqual(ckpt.config, await expectedOracleConfig(folder));
      assert.deepEqual(ckpt.warnings, []);
      assert.ok(ckpt.configFile?.endsWith(layout === "hf" ? "config.json" : "open_clip_config.json"));
    },
  });

  Deno.test({
    name: `readTokenEmbeddingRows() on ${folder} returns the row reference.json uses as concept_init`,
    ...needsShared,
    fn: async () => {
      using ref = await openSafetensors(sharedPath(ORACLE, folder, "reference.safetensors"));
      const ids = (await ref.readRaw("input_ids")).data as Int32Array;
      // Prompt 0 ends "... object." so "object" is two tokens before the end-of-text token.
      const objectId = ids[ids.slice(0, 77).indexOf(END_OF_TEXT) - 2];
      const init = (await ref.read("concept_init")).data;
      using ckpt = await openCheckpoint(sharedPath(ORACLE, folder));
      const rows = await ckpt.readTokenEmbeddingRows([objectId, 0, objectId]);
      assert.equal(rows.length, 3 * 128);
      assert.deepEqual(rows.subarray(0, 128), init);
      assert.deepEqual(rows.subarray(256), init);
      const all = (await ckpt.readWeights()).text.tokenEmbed;
      assert.deepEqual(rows.subarray(128, 256), all.data.subarray(0, 128));
      assert.deepEqual(rows.subarray(0, 128), all.data.subarray(objectId * 128, objectId * 128 + 128));
    },
  });
}

Deno.test({
  name: "openCheckpoint() maps both oracle layouts to canonical weights of identical shapes",
  ...needsShared,
  fn: async () => {
    using a = await openCheckpoint(sharedPath(ORACLE, FIXTURES[0].folder));
    using b = await openCheckpoint(sharedPath(ORACLE, FIXTURES[1].folder));
    const wa = await a.readWeights(), wb = await b.readWeights();
    assert.deepEqual(shapeTree(wa), shapeTree(wb));
    const v = wa.vision, t = wa.text;
    assert.deepEqual(v.patchEmbed.shape, [128, 3, 16, 16]);
    assert.deepEqual(v.posEmbed.shape, [37, 128]);
    assert.deepEqual(v.blocks[2].qkvWeight.shape, [384, 128]);
    assert.deepEqual(v.blocks[0].fcWeight.shape, [512, 128]);
    assert.deepEqual(v.blocks[0].projWeight.shape, [128, 512]);
    assert.deepEqual(v.proj.shape, [128, 64]);
    assert.deepEqual(t.tokenEmbed.shape, [49408, 128]);
    assert.deepEqual(t.proj.shape, [128, 64]);
    assert.equal(t.blocks.length, 3);
    for (const w of [wa, wb]) {
      assert.ok(Number.isFinite(w.logitScale) && w.logitScale > 0);
      for (const block of w.vision.blocks) assert.equal(block.qkvWeight.data.length, 384 * 128);
    }
  },
});

Deno.test({
  name: "readWeights() stacks HF q, k, v and transposes HF projections",
  ...needsShared,
  fn: async () => {
    const dir = sharedPath(ORACLE, "tiny-gelu-hf");
    using st = await openSafetensors(join(dir, "model.safetensors"));
    using ckpt = await openCheckpoint(dir);
    const w = await ckpt.readWeights();
    const block = w.text.blocks[1];
    const p = "text_model.encoder.layers.1.self_attn";
    const q = (await st.read(`${p}.q_proj.weight`)).data;
    const k = (await st.read(`${p}.k_proj.weight`)).data;
    const vb = (await st.read(`${p}.v_proj.bias`)).data;
    assert.deepEqual(block.qkvWeight.data.subarray(0, 128 * 128), q);
    assert.deepEqual(block.qkvWeight.data.subarray(128 * 128, 2 * 128 * 128), k);
    assert.deepEqual(block.qkvBias.data.subarray(256), vb);
    const proj = (await st.read("visual_projection.weight")).data; // [64, 128]
    for (const [r, c] of [[0, 0], [5, 17], [127, 63]]) {
      assert.equal(w.vision.proj.data[r * 64 + c], proj[c * 128 + r]);
    }
    assert.equal(w.logitScale, (await st.read("logit_scale")).data[0]);
  },
});

Deno.test({
  name: "openCheckpoint() infers the config from the weights alone when the config file is absent",
  ...needsShared,
  fn: async () => {
    for (const { folder, weights, layout } of FIXTURES) {
      await withTempDir(async (dir) => {
        await Deno.copyFile(sharedPath(ORACLE, folder, weights), join(dir, weights));
        const expected = await expectedOracleConfig(folder);
        {
          using ckpt = await openCheckpoint(dir);
          assert.equal(ckpt.layout, layout);
          assert.equal(ckpt.configFile, null);
          assert.deepEqual(ckpt.config, { ...expected, activation: "quick_gelu" });
          assert.ok(ckpt.warnings.some((w) => w.includes("inferred from the tensor shapes")));
          assert.ok(ckpt.warnings.some((w) => w.includes("assuming quick_gelu")));
        }
        using exact = await openCheckpoint(dir, { activation: expected.activation });
        assert.deepEqual(exact.config, expected);
        assert.ok(!exact.warnings.some((w) => w.includes("assuming quick_gelu")));
      });
    }
  },
});

Deno.test("openCheckpoint() throws WEIGHTS_MISSING naming the file and tensor when a tensor is absent", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    const { weightsFile } = await writeRandomCheckpoint(src, { arch: "tiny", layout: "hf", seed: 1 });
    const dst = join(dir, "dst");
    await Deno.mkdir(dst);
    await Deno.copyFile(join(src, "config.json"), join(dst, "config.json"));
    const target = join(dst, "model.safetensors");
    const dropped = "vision_model.encoder.layers.2.self_attn.k_proj.bias";
    await rewrite(weightsFile, target, { drop: dropped });
    await assert.rejects(openCheckpoint(dst), weightsError(target, dropped, ErrorCode.WEIGHTS_MISSING));
  });
});

Deno.test("openCheckpoint() throws WeightsError with both shapes when a tensor disagrees with the config", async () => {
  await withTempDir(async (dir) => {
    const { weightsFile, configFile } = await writeRandomCheckpoint(dir, {
      arch: "tiny",
      layout: "openclip",
    });
    const json = JSON.parse(await Deno.readTextFile(configFile));
    json.model_cfg.embed_dim = 32;
    await Deno.writeTextFile(configFile, JSON.stringify(json));
    await assert.rejects(openCheckpoint(dir), (err: unknown) => {
      weightsError(weightsFile, "visual.proj", ErrorCode.WEIGHTS_INVALID)(err);
      assert.match((err as Error).message, /expected \[128,32\], got \[128,64\]/);
      return true;
    });
  });
});

Deno.test("openCheckpoint() warns about extra blocks and foreign tensors and ignores position_ids", async () => {
  await withTempDir(async (dir) => {
    const { weightsFile, configFile } = await writeRandomCheckpoint(dir, { arch: "tiny", layout: "hf" });
    const withExtras = join(dir, "extras.safetensors");
    await rewrite(weightsFile, withExtras, {
      add: [
        {
          name: "text_model.embeddings.position_ids",
          shape: [1, 77],
          dtype: "F32",
          data: new Float32Array(77),
        },
        { name: "logit_bias", shape: [], dtype: "F32", data: new Float32Array(1) },
      ],
    });
    await Deno.rename(withExtras, weightsFile);
    const json = JSON.parse(await Deno.readTextFile(configFile));
    json.vision_config.num_hidden_layers = 2;
    await Deno.writeTextFile(configFile, JSON.stringify(json));
    using ckpt = await openCheckpoint(dir);
    assert.equal(ckpt.config.vision.layers, 2);
    assert.equal(ckpt.warnings.length, 2, ckpt.warnings.join("\n"));
    assert.match(ckpt.warnings[0], /hold 3 vision blocks but the config uses 2/);
    assert.match(
      ckpt.warnings[1],
      /^1 tensor\(s\) in model\.safetensors are not part of CLIP and are ignored: "logit_bias"/,
    );
    assert.equal((await ckpt.readWeights()).vision.blocks.length, 2);
  });
});

Deno.test("openCheckpoint() warns when the activation override contradicts the config file", async () => {
  await withTempDir(async (dir) => {
    await writeRandomCheckpoint(dir, { arch: "tiny", layout: "openclip" });
    using ckpt = await openCheckpoint(dir, { activation: "gelu" });
    assert.equal(ckpt.config.activation, "gelu");
    assert.match(ckpt.warnings.join("\n"), /activation is overridden: .* says quick_gelu, using gelu/);
  });
});

Deno.test("openCheckpoint() throws WEIGHTS_MISSING when the folder holds no safetensors weights", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "open_clip_pytorch_model.bin"), "");
    await assert.rejects(openCheckpoint(dir), (err: unknown) => {
      weightsError(dir, undefined, ErrorCode.WEIGHTS_MISSING)(err);
      assert.match(
        (err as Error).message,
        /found only open_clip_pytorch_model\.bin, which are not safetensors/,
      );
      return true;
    });
  });
});

Deno.test("openCheckpoint() throws WeightsError when the tensor names belong to neither layout", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "weights.safetensors");
    await writeSafetensors(path, [{
      name: "encoder.weight",
      shape: [2],
      dtype: "F32",
      data: new Float32Array(2),
    }]);
    await assert.rejects(
      openCheckpoint(dir),
      weightsError(path, "visual.conv1.weight", ErrorCode.WEIGHTS_MISSING),
    );
  });
});

Deno.test("readTokenEmbeddingRows() throws ShapeError when an id is outside the vocabulary", async () => {
  await withTempDir(async (dir) => {
    await writeRandomCheckpoint(dir, { arch: "tiny", layout: "openclip" });
    using ckpt = await openCheckpoint(dir);
    await assert.rejects(ckpt.readTokenEmbeddingRows([49408]), ShapeError);
    await assert.rejects(ckpt.readTokenEmbeddingRows([1.5]), ShapeError);
    assert.equal((await ckpt.readTokenEmbeddingRows([])).length, 0);
  });
});

Deno.test("hash() returns the file's sha256 and remembers it under cacheDir keyed by size and mtime", async () => {
  await withTempDir(async (dir) => {
    const model = join(dir, "model");
    const cache = join(dir, "cache");
    const { weightsFile } = await writeRandomCheckpoint(model, { arch: "tiny", layout: "hf", seed: 3 });
    const expected = createHash("sha256").update(await Deno.readFile(weightsFile)).digest("hex");
    const open = async (): Promise<Checkpoint> => await openCheckpoint(model);
    {
      using ckpt = await open();
      assert.equal(await ckpt.hash(), expected);
      assert.equal(await ckpt.hash(cache), expected, "memoised in the object");
    }
    {
      using ckpt = await open();
      assert.equal(await ckpt.hash(cache), expected);
    }
    // A cache entry with matching size and mtime is trusted, which proves no rehash happens.
    const cachePath = join(cache, HASH_CACHE_FILE);
    const json = JSON.parse(await Deno.readTextFile(cachePath));
    const key = Object.keys(json.entries)[0];
    json.entries[key].sha256 = "f".repeat(64);
    await Deno.writeTextFile(cachePath, JSON.stringify(json));
    {
      using ckpt = await open();
      assert.equal(await ckpt.hash(cache), "f".repeat(64));
    }
    // A new mtime invalidates the entry.
    await Deno.utime(weightsFile, new Date(), new Date(Date.now() + 5000));
    {
      using ckpt = await open();
      assert.equal(await ckpt.hash(cache), expected);
    }
    // A damaged cache file costs only a rehash.
    await Deno.writeTextFile(cachePath, "{not json");
    using ckpt = await open();
    assert.equal(await ckpt.hash(cache), expected);
  });
});

Deno.test("layoutTensors() names every tensor of both layouts once", () => {
  const cfg = getArchitecture("tiny");
  for (const layout of ["openclip", "hf"] as const) {
    const names = layoutTensors(cfg, layout).flatMap((t) => t.parts.map((p) => p.name));
    assert.equal(new Set(names).size, names.length);
    // Per block OpenCLIP stores 12 tensors, HF 16 (q, k, v apart); outside blocks 8 vision, 5 text, 1 scale.
    const perBlock = layout === "hf" ? 16 : 12;
    assert.equal(names.length, 3 * 2 * perBlock + 8 + 5 + 1, layout);
  }
});
