/**
 * Stable Diffusion 2.x's text conditioning (penultimate block, ln_final, all 77 positions) from the
 * project's own text graph against OpenAI's code (../shared/fixtures/clip-oracle/<model>/
 * sd_conditioning.safetensors): both tiny models, both checkpoint layouts, with and without the
 * concept injected at the placeholder. Tolerance 2e-4 max abs (../shared/README.md: float32
 * accumulation order differs between torch and onnxruntime; hidden states are O(1)).
 */
import { openSafetensors } from "../../src/clip/safetensors.ts";
import { openTextConditioner } from "../../src/diffusion/conditioning.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { assertClose } from "../_numeric.ts";
import { modelDirWithVocab, oracleModels } from "./_oracle.ts";

const HIDDEN_TOL = 2e-4;

for (const model of oracleModels()) {
  Deno.test({
    name: `the SD conditioning reproduces OpenAI's for ${model.name} in the ${model.layout} layout`,
    ...needsShared,
    async fn() {
      await using fixture = await modelDirWithVocab(model.name, model.layout);
      using ref = await openSafetensors(
        sharedPath("fixtures/clip-oracle", model.name, "reference.safetensors"),
      );
      using sd = await openSafetensors(
        sharedPath("fixtures/clip-oracle", model.name, "sd_conditioning.safetensors"),
      );
      const text = await openTextConditioner(fixture.dir, fixture.dir, {
        device: "cpu",
        cacheDir: fixture.cacheDir,
        log: () => {},
      });
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
    },
  });
}
