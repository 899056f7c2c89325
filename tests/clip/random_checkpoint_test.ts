import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ConfigError } from "../../src/errors.ts";
import { getArchitecture } from "../../src/clip/architectures.ts";
import { openCheckpoint } from "../../src/clip/checkpoint.ts";
import type { ClipConfig } from "../../src/clip/config.ts";
import { bf16ToF32, f16ToF32, f32ToBF16, f32ToF16 } from "../../src/clip/float16.ts";
import { openSafetensors } from "../../src/clip/safetensors.ts";
import { writeRandomCheckpoint } from "../../src/clip/random_checkpoint.ts";
import type { ClipWeights, FloatTensor } from "../../src/clip/weights.ts";
import { tempDir } from "../_temp_dir.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  await using tmp = await tempDir("tiny_checkpoint_test_");
  const dir = tmp.path;
  await fn(dir);
}

/** Every tensor of canonical weights with its path, in a stable order. */
function flatten(w: ClipWeights): [string, FloatTensor][] {
  const out: [string, FloatTensor][] = [];
  const walk = (v: unknown, path: string) => {
    if (v && typeof v === "object" && "data" in v && (v as FloatTensor).data instanceof Float32Array) {
      out.push([path, v as FloatTensor]);
    } else if (v && typeof v === "object") {
      for (const [k, c] of Object.entries(v)) walk(c, `${path}.${k}`);
    }
  };
  walk(w, "");
  return out;
}

function stats(data: Float32Array): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (const x of data) {
    s += x;
    s2 += x * x;
  }
  const mean = s / data.length;
  return { mean, std: Math.sqrt(s2 / data.length - mean * mean) };
}

async function sha256(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

for (const layout of ["openclip", "hf"] as const) {
  Deno.test(`writeRandomCheckpoint() writes tiny in the ${layout} layout that reopens with the same config`, async () => {
    await withTempDir(async (dir) => {
      const written = await writeRandomCheckpoint(dir, { arch: "tiny", layout, seed: 5 });
      assert.deepEqual(written.config, getArchitecture("tiny"));
      using ckpt = await openCheckpoint(dir);
      assert.equal(ckpt.layout, layout);
      assert.deepEqual(ckpt.config, getArchitecture("tiny"));
      assert.deepEqual(ckpt.warnings, []);
      assert.equal(ckpt.weightsFile, written.weightsFile);
      assert.equal(ckpt.configFile, written.configFile);
      using st = await openSafetensors(written.weightsFile);
      assert.ok([...st.header.values()].every((e) => e.dtype === "F16"));
      assert.deepEqual(st.metadata, { format: "pt" });
    });
  });
}

Deno.test("writeRandomCheckpoint() gives the same canonical weights in both layouts for one seed", async () => {
  await withTempDir(async (dir) => {
    await writeRandomCheckpoint(join(dir, "a"), { arch: "tiny-gelu", layout: "openclip", seed: 11 });
    await writeRandomCheckpoint(join(dir, "b"), { arch: "tiny-gelu", layout: "hf", seed: 11 });
    await writeRandomCheckpoint(join(dir, "c"), { arch: "tiny-gelu", layout: "hf", seed: 12 });
    using a = await openCheckpoint(join(dir, "a"));
    using b = await openCheckpoint(join(dir, "b"));
    using c = await openCheckpoint(join(dir, "c"));
    assert.equal(a.config.activation, "gelu");
    assert.deepEqual(a.config, b.config);
    const fa = flatten(await a.readWeights());
    const fb = flatten(await b.readWeights());
    const fc = flatten(await c.readWeights());
    assert.equal(fa.length, fb.length);
    fa.forEach(([path, t], i) => {
      assert.equal(fb[i][0], path);
      assert.deepEqual(fb[i][1].shape, t.shape, path);
      assert.deepEqual(fb[i][1].data, t.data, path);
      if (t.data.length > 1) assert.notDeepEqual(fc[i][1].data, t.data, `${path} ignores the seed`);
    });
  });
});

Deno.test("writeRandomCheckpoint() writes identical bytes for identical options", async () => {
  await withTempDir(async (dir) => {
    const a = await writeRandomCheckpoint(join(dir, "a"), { arch: "tiny", layout: "hf", seed: 2 });
    const b = await writeRandomCheckpoint(join(dir, "b"), { arch: "tiny", layout: "hf", seed: 2 });
    assert.equal(await sha256(a.weightsFile), await sha256(b.weightsFile));
    assert.equal(await Deno.readTextFile(a.configFile), await Deno.readTextFile(b.configFile));
  });
});

Deno.test("writeRandomCheckpoint() initialises tensors at CLIP-like scales", async () => {
  await withTempDir(async (dir) => {
    await writeRandomCheckpoint(dir, { arch: "tiny", layout: "openclip", dtype: "F32" });
    using ckpt = await openCheckpoint(dir);
    const w = await ckpt.readWeights();
    const near = (t: FloatTensor, mean: number, std: number, what: string) => {
      const s = stats(t.data);
      assert.ok(Math.abs(s.mean - mean) < 0.2 * std + 1e-3, `${what} mean ${s.mean}`);
      assert.ok(Math.abs(s.std - std) < 0.2 * std, `${what} std ${s.std}, expected ${std}`);
    };
    near(w.text.tokenEmbed, 0, 0.02, "token embedding");
    near(w.text.posEmbed, 0, 0.01, "text positional embedding");
    near(w.vision.blocks[0].qkvWeight, 0, 128 ** -0.5, "qkv weight");
    near(w.vision.lnPre.weight, 1, 0.02, "LayerNorm weight");
    near(w.text.proj, 0, 128 ** -0.5, "text projection");
    for (const bias of [w.vision.blocks[1].qkvBias, w.text.blocks[2].fcBias, w.text.lnFinal.bias]) {
      assert.ok(
        bias.data.every((x) => x !== 0) && stats(bias.data).std < 0.05,
        "biases are small and non-zero",
      );
    }
    assert.ok(Math.abs(w.logitScale - Math.log(1 / 0.07)) < 1e-6);
  });
});

Deno.test("writeRandomCheckpoint() rounds to the requested dtype", async () => {
  await withTempDir(async (dir) => {
    const f32 = join(dir, "f32"), bf16 = join(dir, "bf16"), f16 = join(dir, "f16");
    await writeRandomCheckpoint(f32, { arch: "tiny", layout: "hf", dtype: "F32", seed: 4 });
    await writeRandomCheckpoint(bf16, { arch: "tiny", layout: "hf", dtype: "BF16", seed: 4 });
    await writeRandomCheckpoint(f16, { arch: "tiny", layout: "hf", dtype: "F16", seed: 4 });
    using a = await openCheckpoint(f32);
    using b = await openCheckpoint(bf16);
    using c = await openCheckpoint(f16);
    const exact = (await a.readWeights()).vision.blocks[0].fcWeight.data;
    assert.deepEqual((await b.readWeights()).vision.blocks[0].fcWeight.data, bf16ToF32(f32ToBF16(exact)));
    assert.deepEqual((await c.readWeights()).vision.blocks[0].fcWeight.data, f16ToF32(f32ToF16(exact)));
    using st = await openSafetensors(b.weightsFile);
    assert.ok([...st.header.values()].every((e) => e.dtype === "BF16"));
  });
});

Deno.test("writeRandomCheckpoint() round trips a custom config through both layouts", async () => {
  const custom: ClipConfig = {
    ...getArchitecture("tiny"),
    embedDim: 48,
    vision: {
      imageSize: 64,
      patchSize: 8,
      width: 96,
      layers: 2,
      heads: 3,
      mlpWidth: 240,
      layerNormEps: 1e-6,
    },
  };
  custom.preprocess = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
  await withTempDir(async (dir) => {
    for (const layout of ["openclip", "hf"] as const) {
      await writeRandomCheckpoint(join(dir, layout), { arch: custom, layout, dtype: "BF16", seed: 9 });
      using ckpt = await openCheckpoint(join(dir, layout));
      assert.deepEqual(ckpt.config, custom, layout);
      assert.deepEqual(ckpt.warnings, [], layout);
    }
  });
});

Deno.test("writeRandomCheckpoint() throws ConfigError for an unknown architecture, layout or invalid config", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      writeRandomCheckpoint(dir, { arch: "vit-q-1" as "tiny", layout: "hf" }),
      ConfigError,
    );
    await assert.rejects(writeRandomCheckpoint(dir, { arch: "tiny", layout: "onnx" as "hf" }), ConfigError);
    const odd = getArchitecture("tiny");
    odd.text.heads = 3;
    await assert.rejects(
      writeRandomCheckpoint(dir, { arch: odd, layout: "openclip" }),
      (err: unknown) => err instanceof ConfigError && /text\.heads 3/.test(err.message),
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});
