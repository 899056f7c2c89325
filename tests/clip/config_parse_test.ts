import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.ts";
import { getArchitecture, listArchitectures } from "../../src/clip/architectures.ts";
import { CLIP_MEAN, CLIP_STD, type ClipConfig } from "../../src/clip/config.ts";
import { type CheckpointLayout, layoutTensors } from "../../src/clip/checkpoint_layout.ts";
import { parseClipConfig, validateClipConfig } from "../../src/clip/config_parse.ts";
import { inferClipConfig } from "../../src/clip/infer_clip_config.ts";
import { openSafetensors } from "../../src/clip/safetensors.ts";
import { needsShared, sharedPath } from "../_shared.ts";

const ORACLE = "fixtures/clip-oracle";

/** The oracle fixtures' shape (README and reference.json) with the given activation. */
function tinyConfig(activation: "quick_gelu" | "gelu"): ClipConfig {
  return {
    embedDim: 64,
    activation,
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

function configError(pattern: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.match(err.message, pattern);
    assert.match(err.message, /^[A-Z].*[^.]$/s);
    return true;
  };
}

function shapesOf(config: ClipConfig, layout: CheckpointLayout): Map<string, readonly number[]> {
  return new Map(layoutTensors(config, layout).flatMap((t) => t.parts.map((p) => [p.name, p.shape])));
}

Deno.test({
  name: "parseClipConfig() reads the OpenCLIP oracle config",
  ...needsShared,
  fn: async () => {
    const json = JSON.parse(
      await Deno.readTextFile(sharedPath(ORACLE, "tiny-quickgelu-openclip/open_clip_config.json")),
    );
    assert.deepEqual(parseClipConfig(json, "openclip"), tinyConfig("quick_gelu"));
  },
});

Deno.test({
  name: "parseClipConfig() reads the Hugging Face oracle config",
  ...needsShared,
  fn: async () => {
    const json = JSON.parse(await Deno.readTextFile(sharedPath(ORACLE, "tiny-gelu-hf/config.json")));
    assert.deepEqual(parseClipConfig(json, "hf"), tinyConfig("gelu"));
  },
});

Deno.test("parseClipConfig() applies OpenCLIP defaults and reads quick_gelu absent as GELU", () => {
  // OpenCLIP's own ViT-B-16.json and ViT-H-14.json, which omit default fields.
  const vitB16 = {
    embed_dim: 512,
    vision_cfg: { image_size: 224, layers: 12, width: 768, patch_size: 16 },
    text_cfg: { context_length: 77, vocab_size: 49408, width: 512, heads: 8, layers: 12 },
  };
  assert.deepEqual(parseClipConfig(vitB16, "openclip"), {
    ...getArchitecture("vit-b-16"),
    activation: "gelu",
  });
  const vitH14 = {
    model_cfg: {
      embed_dim: 1024,
      vision_cfg: { image_size: 224, layers: 32, width: 1280, head_width: 80, patch_size: 14 },
      text_cfg: { context_length: 77, vocab_size: 49408, width: 1024, heads: 16, layers: 24 },
    },
  };
  assert.deepEqual(parseClipConfig(vitH14, "openclip"), getArchitecture("vit-h-14"));
  const plus = {
    embed_dim: 640,
    vision_cfg: { image_size: 240, layers: 12, width: 896, patch_size: 16 },
    text_cfg: { width: 640, heads: 10, layers: 12 },
  };
  assert.deepEqual(parseClipConfig(plus, "openclip"), getArchitecture("vit-b-16-plus-240"));
});

Deno.test("parseClipConfig() reads OpenCLIP mlp_ratio, square image_size pairs, eps and preprocess_cfg", () => {
  const cfg = parseClipConfig({
    model_cfg: {
      embed_dim: 32,
      quick_gelu: true,
      vision_cfg: {
        image_size: [64, 64],
        layers: 2,
        width: 64,
        head_width: 32,
        patch_size: 8,
        mlp_ratio: 2.5,
      },
      text_cfg: { width: 64, heads: 2, layers: 1, norm_kwargs: { eps: 1e-6 } },
    },
    preprocess_cfg: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: "bicubic" },
  }, "openclip");
  assert.equal(cfg.vision.imageSize, 64);
  assert.equal(cfg.vision.heads, 2);
  assert.equal(cfg.vision.mlpWidth, 160);
  assert.equal(cfg.text.layerNormEps, 1e-6);
  assert.equal(cfg.vision.layerNormEps, 1e-5);
  assert.deepEqual(cfg.preprocess, { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
});

Deno.test("parseClipConfig() applies transformers' defaults to a sparse Hugging Face config", () => {
  // transformers' defaults describe ViT-B/32.
  const cfg = parseClipConfig({ model_type: "clip" }, "hf");
  assert.deepEqual(cfg, {
    embedDim: 512,
    activation: "quick_gelu",
    vision: {
      imageSize: 224,
      patchSize: 32,
      width: 768,
      layers: 12,
      heads: 12,
      mlpWidth: 3072,
      layerNormEps: 1e-5,
    },
    text: {
      contextLength: 77,
      vocabSize: 49408,
      width: 512,
      layers: 12,
      heads: 8,
      mlpWidth: 2048,
      layerNormEps: 1e-5,
    },
    preprocess: { mean: CLIP_MEAN, std: CLIP_STD },
  });
  // openai/clip-vit-base-patch16's config.json lists only what differs, under *_config_dict.
  const b16 = parseClipConfig({
    projection_dim: 512,
    text_config_dict: { hidden_act: "quick_gelu" },
    vision_config_dict: { hidden_act: "quick_gelu", patch_size: 16 },
  }, "hf");
  assert.deepEqual(b16, getArchitecture("vit-b-16"));
});

Deno.test("parseClipConfig() takes mean and std from preprocessor_config.json when given", () => {
  const cfg = parseClipConfig({}, "hf", {
    preprocessor: { image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] },
  });
  assert.deepEqual(cfg.preprocess, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
});

Deno.test("parseClipConfig() throws ConfigError naming the field when a value is invalid", () => {
  const base = { embed_dim: 64, vision_cfg: { width: 128, layers: 2, patch_size: 16, image_size: 96 } };
  const cases: [unknown, CheckpointLayout, RegExp][] = [
    [{ ...base, embed_dim: -1 }, "openclip", /field embed_dim must be a positive integer: got -1/],
    [{ vision_cfg: base.vision_cfg }, "openclip", /field embed_dim must be a positive integer: got nothing/],
    [{ ...base, vision_cfg: { ...base.vision_cfg, width: "128" } }, "openclip", /vision_cfg\.width/],
    [{ ...base, vision_cfg: { ...base.vision_cfg, head_width: 48 } }, "openclip", /head_width/],
    [
      { ...base, vision_cfg: { ...base.vision_cfg, image_size: 100 } },
      "openclip",
      /multiple of vision\.patchSize/,
    ],
    [
      { ...base, vision_cfg: { ...base.vision_cfg, image_size: [96, 64] } },
      "openclip",
      /field vision_cfg\.image_size must be a square size .*: got a list of 2/,
    ],
    [
      { ...base, text_cfg: { width: 100, heads: 8 } },
      "openclip",
      /field text\.width must be divisible by text\.heads 8: got 100/,
    ],
    [{ ...base, quick_gelu: "yes" }, "openclip", /field quick_gelu must be true or false: got "yes"/],
    [{ model_cfg: base, preprocess_cfg: { mean: [1, 2] } }, "openclip", /preprocess_cfg\.mean/],
    [{ model_cfg: base, preprocess_cfg: { std: [1, 0, 1] } }, "openclip", /preprocess\.std/],
    [
      { vision_config: { hidden_size: 768, num_attention_heads: 7 } },
      "hf",
      /field vision\.width must be divisible by vision\.heads 7: got 768/,
    ],
    [{ vision_config: { hidden_act: "gelu_new" } }, "hf", /vision_config\.hidden_act/],
    [{ vision_config: { hidden_act: "gelu" } }, "hf", /different activations/],
    [{ model_type: "siglip" }, "hf", /model_type/],
    [{ vision_config: { num_channels: 1 } }, "hf", /num_channels/],
    [{ text_config: { layer_norm_eps: 0 } }, "hf", /layer_norm_eps/],
    ["nonsense", "hf", /field root must be a JSON object: got "nonsense"/],
  ];
  for (const [json, layout, pattern] of cases) {
    assert.throws(
      () => parseClipConfig(json, layout, { source: "test.json" }),
      configError(pattern),
      JSON.stringify(json),
    );
  }
});

Deno.test("parseClipConfig() refuses OpenCLIP towers that are not plain CLIP", () => {
  const base = { embed_dim: 64, vision_cfg: {}, text_cfg: {} };
  const cases: [Record<string, unknown>, Record<string, unknown>][] = [
    [{ timm_model_name: "convnext_base" }, {}],
    [{ layers: [3, 4, 6, 3] }, {}],
    [{ ls_init_value: 1e-5 }, {}],
    [{ attentional_pool: true }, {}],
    [{ pool_type: "avg" }, {}],
    [{}, { hf_model_name: "roberta-base" }],
    [{}, { embed_cls: true }],
    [{}, { no_causal_mask: true }],
  ];
  for (const [vision, text] of cases) {
    const json = { ...base, vision_cfg: vision, text_cfg: text };
    assert.throws(() => parseClipConfig(json, "openclip"), configError(/^Unsupported CLIP config: /));
  }
  // Harmless values of the same keys are accepted.
  parseClipConfig({ ...base, vision_cfg: { attentional_pool: false, pool_type: "tok" } }, "openclip");
});

Deno.test("validateClipConfig() rejects an inconsistent config and returns a copy otherwise", () => {
  const good = getArchitecture("tiny");
  const copy = validateClipConfig(good);
  assert.deepEqual(copy, good);
  assert.notEqual(copy.vision, good.vision);
  const bad = (change: (c: ClipConfig) => void, pattern: RegExp) => {
    const c = getArchitecture("tiny");
    change(c);
    assert.throws(() => validateClipConfig(c), configError(pattern));
  };
  bad((c) => (c.vision.heads = 3), /field vision\.width must be divisible by vision\.heads 3: got 128/);
  bad((c) => (c.text.layers = 0), /field text\.layers must be a positive integer: got 0/);
  bad((c) => (c.vision.patchSize = 1.5), /vision\.patchSize/);
  bad((c) => (c.activation = "relu" as "gelu"), /activation/);
  bad((c) => (c.preprocess.std = [1, 1, -1]), /preprocess\.std/);
  bad((c) => (c.vision.layerNormEps = NaN), /vision\.layerNormEps/);
});

Deno.test("inferClipConfig() recovers every registered architecture from its tensor shapes in both layouts", () => {
  for (const name of listArchitectures()) {
    const arch = getArchitecture(name);
    for (const layout of ["openclip", "hf"] as const) {
      const { config, warnings } = inferClipConfig(shapesOf(arch, layout), layout, {
        activation: arch.activation,
      });
      assert.deepEqual(config, arch, `${name} ${layout}`);
      assert.equal(warnings.length, 1, `${name} ${layout}: ${warnings}`);
      assert.match(warnings[0], /Attention heads are not stored in the weights: taken from the architecture/);
    }
  }
});

Deno.test("inferClipConfig() assumes 64-wide heads and QuickGELU with warnings when the shape is unknown", () => {
  const arch = getArchitecture("tiny");
  arch.vision.width = 256;
  arch.vision.heads = 4;
  arch.vision.mlpWidth = 1024;
  const { config, warnings } = inferClipConfig(shapesOf(arch, "openclip"), "openclip");
  // The text tower gets 128/64 = 2 heads, not the 4 that tiny really uses: a documented guess.
  assert.deepEqual(config, { ...arch, text: { ...arch.text, heads: 2 } });
  assert.equal(warnings.length, 2);
  assert.match(warnings.join("\n"), /assuming 64-wide heads \(vision 4, text 2\)/);
  assert.match(warnings.join("\n"), /activation is not stored in the weights: assuming quick_gelu/);
});

Deno.test("inferClipConfig() throws ConfigError when a width is not a multiple of 64 and no architecture matches", () => {
  const arch = getArchitecture("tiny");
  arch.vision.width = 96;
  arch.vision.heads = 2;
  arch.vision.mlpWidth = 384;
  assert.throws(() => inferClipConfig(shapesOf(arch, "hf"), "hf"), configError(/vision width 96/));
});

Deno.test("inferClipConfig() throws ConfigError when a tensor or a block is missing", () => {
  const shapes = shapesOf(getArchitecture("tiny"), "openclip");
  const noConv = new Map(shapes);
  noConv.delete("visual.conv1.weight");
  assert.throws(() => inferClipConfig(noConv, "openclip"), configError(/"visual\.conv1\.weight" is missing/));
  const gap = new Map([...shapes].filter(([n]) => !n.startsWith("transformer.resblocks.1.")));
  assert.throws(
    () => inferClipConfig(gap, "openclip"),
    configError(/block 1 of "transformer\.resblocks" is missing/),
  );
  const badGrid = new Map(shapes).set("visual.positional_embedding", [36, 128]);
  assert.throws(() => inferClipConfig(badGrid, "openclip"), configError(/not a square grid/));
});

Deno.test({
  name: "inferClipConfig() on the oracle weights matches the parsed config except the activation",
  ...needsShared,
  fn: async () => {
    for (
      const [folder, layout, weights, configFile] of [
        ["tiny-quickgelu-openclip", "openclip", "open_clip_model.safetensors", "open_clip_config.json"],
        ["tiny-gelu-hf", "hf", "model.safetensors", "config.json"],
      ] as const
    ) {
      using st = await openSafetensors(sharedPath(ORACLE, folder, weights));
      const shapes = new Map([...st.header].map(([n, e]) => [n, e.shape]));
      const parsed = parseClipConfig(
        JSON.parse(await Deno.readTextFile(sharedPath(ORACLE, folder, configFile))),
        layout,
      );
      const { config, warnings } = inferClipConfig(shapes, layout);
      assert.deepEqual(config, { ...parsed, activation: "quick_gelu" }, folder);
      assert.ok(warnings.some((w) => w.includes("assuming quick_gelu")), folder);
      const exact = inferClipConfig(shapes, layout, { activation: parsed.activation });
      assert.deepEqual(exact.config, parsed, folder);
    }
  },
});
