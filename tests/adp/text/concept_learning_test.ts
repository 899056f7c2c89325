/**
 * Concept learning on the tiny oracle models (real architecture, random weights) with real bottle
 * images and real pseudo-anomalies: the objective falls on average, the normal-aware concept makes
 * the normal images more "normal", and the anomaly-aware concept makes pseudo-anomalies less so.
 * The probabilities are evaluated on the full prompt sets, not the per-step draws.
 */
import assert from "node:assert/strict";
import { decodeImage } from "../../../src/image/decode.ts";
import { learnConcept } from "../../../src/adp/text/concept_learning.ts";
import { normalProbability, promptSetEmbedding } from "../../../src/adp/text/concept_loss.ts";
import { imageEmbeddings } from "../../../src/adp/vision_pass.ts";
import { promptSets } from "../../../src/adp/text/prompts.ts";
import { synthesizePseudoAnomalies } from "../../../src/adp/synth/mod.ts";
import { loadClip } from "../../../src/model/clip_model.ts";
import { needsShared, sharedPath } from "../../_shared.ts";
import { modelDirWithVocab } from "../../model/_oracle.ts";

const PLACEHOLDER = "sks";

for (const name of ["tiny-quickgelu-openclip", "tiny-gelu-hf"]) {
  Deno.test({
    name: `learnConcept() lowers the objective and moves P_n the right way on ${name}`,
    ...needsShared,
    async fn() {
      await using fixture = await modelDirWithVocab(name);
      const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
      try {
        const files = [0, 1, 2, 3].map((i) => sharedPath(`datasets/mvtec-ad/bottle/train/good/00${i}.png`));
        const normals = await Promise.all(files.map(async (f) => decodeImage(await Deno.readFile(f))));
        const anomalies = synthesizePseudoAnomalies(normals, {
          count: 16,
          seed: 3,
          crop: { size: 96, scale: [0.5, 1], ratio: [0.75, 4 / 3] },
        });
        const normalFeatures = await imageEmbeddings(clip, normals);
        const anomalyFeatures = await imageEmbeddings(clip, anomalies.map((a) => a.image));
        const prompts = promptSets(PLACEHOLDER);
        const e = clip.config.embedDim;
        const meanPn = async (concept: Float32Array, features: Float64Array) => {
          const g = async (texts: string[]) =>
            promptSetEmbedding(await clip.encodeTextWithConcept(texts, PLACEHOLDER, concept), e);
          const p = normalProbability(
            features,
            await g(prompts.normal),
            await g(prompts.anomalous),
            clip.logitScale,
          );
          return p.reduce((a, b) => a + b, 0) / p.length;
        };
        const opts = {
          steps: 30,
          learningRate: 5e-3,
          weights: { alpha: 1, lambda: 0.5, gamma: 0.3 },
          promptsPerStep: 8,
          seed: 1,
          placeholder: PLACEHOLDER,
          prompts,
        };
        const init = await clip.wordEmbeddings(["object"]);

        const normal = await learnConcept(clip, init, { normals: normalFeatures }, opts);
        const firstLosses = normal.losses.slice(0, 5), lastLosses = normal.losses.slice(-5);
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        assert.ok(
          mean(lastLosses) < mean(firstLosses),
          `eq. 3 loss ${mean(firstLosses)} → ${mean(lastLosses)}`,
        );
        const before = await meanPn(init, normalFeatures),
          after = await meanPn(normal.concept, normalFeatures);
        assert.ok(after > before, `P_n of normals ${before} → ${after}`);

        const anomaly = await learnConcept(clip, normal.concept, {
          normals: normalFeatures,
          anomalies: anomalyFeatures,
        }, opts);
        assert.ok(mean(anomaly.losses.slice(-5)) < mean(anomaly.losses.slice(0, 5)), "eq. 4 loss falls");
        const pseudoBefore = await meanPn(normal.concept, anomalyFeatures);
        const pseudoAfter = await meanPn(anomaly.concept, anomalyFeatures);
        assert.ok(pseudoAfter < pseudoBefore, `P_n of pseudo-anomalies ${pseudoBefore} → ${pseudoAfter}`);
        console.log(
          `${name}: P_n(normal) ${before.toFixed(3)} → ${after.toFixed(3)}; P_n(pseudo-anomaly) ${
            pseudoBefore.toFixed(3)
          } → ${pseudoAfter.toFixed(3)}`,
        );
      } finally {
        await clip.dispose();
      }
    },
  });
}
