/**
 * Stable Diffusion 2.x's text conditioning (penultimate block, ln_final, all 77 positions) from the
 * project's own text graph against OpenAI's code (../shared/fixtures/clip-oracle/<model>/
 * sd_conditioning.safetensors): both tiny models, in both whole-CLIP layouts (the penultimate block's
 * output) and as a text-only Hugging Face CLIPTextModel cut to that block (how diffusers ships SD 2's
 * text encoder, whose output is then its last block's), with and without the concept
 * injected at the placeholder. Tolerance 2e-4 max abs (../shared/README.md: float32 accumulation
 * order differs between torch and onnxruntime; hidden states are O(1)).
 */
import assert from "node:assert/strict";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { openSafetensors } from "../../src/clip/safetensors.ts";
import { openCheckpoint } from "../../src/clip/checkpoint.ts";
import { writeCheckpoint } from "../../src/clip/checkpoint_writer.ts";
import { openTextCheckpoint } from "../../src/clip/text_checkpoint.ts";
import { openTextConditioner } from "../../src/diffusion/conditioning.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { assertClose } from "../_numeric.ts";
import { modelDirWithVocab, type OracleModel, oracleModels } from "./_oracle.ts";

const HIDDEN_TOL = 2e-4;

/**
 * The oracle model's text tower alone, float32, as a CLIPTextModel folder with the vocabulary, its
 * last block dropped as diffusers converted SD 2's text encoder (23 of ViT-H/14's 24 blocks).
 */
async function textOnlyCopy(source: string, dir: string): Promise<void> {
  using whole = await openCheckpoint(source);
  const { text } = whole.config;
  await writeCheckpoint(dir, {
    config: { ...whole.config, text: { ...text, layers: text.layers - 1 } },
    layout: "hf",
    dtype: "F32",
    textOnly: true,
    canonical: async (t) => (await whole.readCanonicalTensor(t.key)).data,
  });
  await copyFile(join(source, "bpe_simple_vocab_16e6.txt.gz"), join(dir, "bpe_simple_vocab_16e6.txt.gz"));
}

async function assertReproduces(model: OracleModel, dir: string, cacheDir: string): Promise<void> {
  using ref = await openSafetensors(sharedPath("fixtures/clip-oracle", model.name, "reference.safetensors"));
  using sd = await openSafetensors(
    sharedPath("fixtures/clip-oracle", model.name, "sd_conditioning.safetensors"),
  );
  const text = await openTextConditioner(dir, dir, { device: "cpu", cacheDir, log: () => {} });
  try {
    assertClose(
      await text.encode(model.reference.prompts),
      (await sd.read("sd_conditioning")).data,
      HIDDEN_TOL,
      "sd_conditioning",
    );
    assertClose(
      await text.encode(model.reference.concept_prompts, {
        placeholder: model.reference.placeholder_word,
        concept: (await ref.read("concept_init")).data,
      }),
      (await sd.read("sd_conditioning_concept")).data,
      HIDDEN_TOL,
      "sd_conditioning_concept",
    );
  } finally {
    await text.release();
  }
}

for (const model of oracleModels()) {
  Deno.test({
    name: `the SD conditioning reproduces OpenAI's for ${model.name} in the ${model.layout} layout`,
    ...needsShared,
    async fn() {
      await using fixture = await modelDirWithVocab(model.name, model.layout);
      await assertReproduces(model, fixture.dir, fixture.cacheDir);
    },
  });
}

for (const model of oracleModels().filter((m, i, all) => all.findIndex((o) => o.name === m.name) === i)) {
  Deno.test({
    name:
      `the SD conditioning reproduces OpenAI's for ${model.name} as a text-only CLIPTextModel without its last block (diffusers' SD 2 text encoder)`,
    ...needsShared,
    async fn() {
      await using fixture = await modelDirWithVocab(model.name);
      const dir = join(fixture.root, "text_encoder");
      await textOnlyCopy(fixture.dir, dir);
      using opened = await openTextCheckpoint(dir);
      assert.ok(opened.textOnly);
      assert.deepEqual(opened.warnings, []);
      await assertReproduces(model, dir, fixture.cacheDir);
    },
  });
}
