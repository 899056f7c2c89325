/**
 * CLIP against OpenAI's own outputs (../shared/fixtures/clip-oracle): both tiny models, both
 * checkpoint layouts. Tolerances from ../shared/README.md: 2e-4 max abs on features and hidden
 * states (float32 accumulation order differs between torch and onnxruntime; values are O(1)).
 */
import assert from "node:assert/strict";
import { loadClip } from "../../src/model/clip_model.ts";
import { ShapeError } from "../../src/errors.ts";
import { openSafetensors } from "../../src/clip/safetensors.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { assertClose } from "../_numeric.ts";
import { modelDirWithVocab, oracleModels } from "./_oracle.ts";

const FEATURE_TOL = 2e-4;

for (const model of oracleModels()) {
  Deno.test({
    name: `loadClip() reproduces OpenAI's vision outputs for ${model.name} in the ${model.layout} layout`,
    ...needsShared,
    async fn() {
      await using fixture = await modelDirWithVocab(model.name, model.layout);
      const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
      using ref = await openSafetensors(
        sharedPath("fixtures/clip-oracle", model.name, "reference.safetensors"),
      );
      try {
        const pixels = (await ref.read("pixel_values")).data;
        // The last block runs on the class token alone: its tokens are not an output, and the
        // features check its class token's path.
        const blocks = [...clip.tokenBlocks];
        assert.deepEqual(blocks, [0, 1]);
        const out = await clip.runVision(pixels, 3, { features: true, embeddings: true, blocks });
        assertClose(
          out.embeddings!,
          (await ref.read("vision_embeddings_ln_pre")).data,
          FEATURE_TOL,
          "ln_pre",
        );
        for (const b of blocks) {
          assertClose(
            out.tokens![b],
            (await ref.read(`vision_block_${b}_tokens`)).data,
            FEATURE_TOL,
            `block ${b}`,
          );
        }
        assertClose(out.features!, (await ref.read("image_features")).data, FEATURE_TOL, "image_features");
        await assert.rejects(clip.runVision(pixels, 3, { blocks: [2] }), ShapeError);
        assertClose(
          await clip.encodeImage(pixels, 3),
          (await ref.read("image_features")).data,
          FEATURE_TOL,
          "encodeImage",
        );
      } finally {
        await clip.dispose();
      }
    },
  });

  Deno.test({
    name:
      `loadClip() reproduces OpenAI's text features and logits for ${model.name} in the ${model.layout} layout`,
    ...needsShared,
    async fn() {
      await using fixture = await modelDirWithVocab(model.name, model.layout);
      const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
      using ref = await openSafetensors(
        sharedPath("fixtures/clip-oracle", model.name, "reference.safetensors"),
      );
      try {
        const prompts: string[] = model.reference.prompts;
        assert.deepEqual(clip.tokenize(prompts), unpad(await ref.readRaw("input_ids")));
        const text = await clip.encodeText(prompts);
        assertClose(text, (await ref.read("text_features")).data, FEATURE_TOL, "text_features");

        const image = await clip.encodeImage((await ref.read("pixel_values")).data, 3);
        const logits = clip.logitsPerImage(image, text);
        // Logits are 100× cosine similarities, so the feature tolerance scales with them.
        assertClose(logits, (await ref.read("logits_per_image")).data, 100 * FEATURE_TOL, "logits_per_image");
      } finally {
        await clip.dispose();
      }
    },
  });

  Deno.test({
    name:
      `encodeTextWithConcept() reproduces the personalised text features for ${model.name} in the ${model.layout} layout`,
    ...needsShared,
    async fn() {
      await using fixture = await modelDirWithVocab(model.name, model.layout);
      const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
      using ref = await openSafetensors(
        sharedPath("fixtures/clip-oracle", model.name, "reference.safetensors"),
      );
      try {
        const conceptInit = (await ref.read("concept_init")).data;
        assertClose(
          await clip.wordEmbeddings([model.reference.concept_init_word]),
          conceptInit,
          0,
          "object row",
        );
        const prompts: string[] = model.reference.concept_prompts;
        assert.deepEqual(clip.tokenize(prompts), unpad(await ref.readRaw("concept_input_ids")));
        const features = await clip.encodeTextWithConcept(
          prompts,
          model.reference.placeholder_word,
          conceptInit,
        );
        assertClose(
          features,
          (await ref.read("concept_text_features")).data,
          FEATURE_TOL,
          "concept_text_features",
        );
      } finally {
        await clip.dispose();
      }
    },
  });
}

Deno.test({
  name: "loadClip() reuses cached graphs on a second load",
  ...needsShared,
  async fn() {
    await using fixture = await modelDirWithVocab("tiny-gelu-hf");
    const lines: string[] = [];
    const first = await loadClip(fixture.dir, {
      device: "cpu",
      cacheDir: fixture.cacheDir,
      log: (l) => lines.push(l),
    });
    await first.dispose();
    assert.equal(lines.filter((l) => l.startsWith("built the")).length, 2);
    lines.length = 0;
    const second = await loadClip(fixture.dir, {
      device: "cpu",
      cacheDir: fixture.cacheDir,
      log: (l) => lines.push(l),
    });
    await second.dispose();
    assert.equal(lines.filter((l) => l.startsWith("built the")).length, 0, lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("onnxruntime: cpu runs")), "the provider line is logged");
  },
});

function unpad(t: { data: ArrayLike<number | bigint>; shape: readonly number[] }): number[][] {
  const [n, len] = t.shape;
  return Array.from({ length: n }, (_, i) => {
    const row = Array.from({ length: len }, (_, j) => Number(t.data[i * len + j]));
    return row.slice(0, row.indexOf(49407) + 1);
  });
}
