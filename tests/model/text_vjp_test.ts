/**
 * The text VJP graph against OpenAI's own concept gradient (../shared/fixtures/clip-oracle): the
 * fixture's concept loss and its gradient with respect to the text features are computed here in
 * float64 (the gradient derived by hand and checked by finite differences), the gradient is fed to
 * `ClipModel.conceptVJP`, and dL/dconcept must match `concept_grad` within 1e-4 of its norm, the tolerance of
 * ../shared/README.md for a correct float32 implementation.
 */
import assert from "node:assert/strict";
import { loadClip } from "../../src/model/clip_model.ts";
import { openSafetensors } from "../../src/clip/safetensors.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { maxAbsDiff, norm } from "../_numeric.ts";
import { modelDirWithVocab, oracleModels } from "./_oracle.ts";

const LOSS_TOL = 1e-5;
const GRAD_REL_TOL = 1e-4;
/** Logits are 100× cosine similarities in the fixture's loss (a fixed scale, not the model's). */
const SCALE = 100;
/** The margin γ of the anomaly-aware term. */
const MARGIN = 0.3;

/**
 * The fixture's concept loss over images [n, d] and three prompt features [3, d] (normal, anomalous,
 * the third pairs against the first), both unnormalised:
 * L = SCALE·imn·tfnᵀ, loss = −mean_i softmax(L[i,[0,1]])[0] + mean_i relu(softmax(L[i,[0,2]])[0] − γ).
 * A two-way softmax's first entry is σ(a − b), so with p_i = σ(L_i0 − L_i1), q_i = σ(L_i0 − L_i2):
 * ∂/∂L_i0 = (−p(1−p) + [q>γ]·q(1−q))/n, ∂/∂L_i1 = p(1−p)/n, ∂/∂L_i2 = −[q>γ]·q(1−q)/n;
 * ∂/∂tfn_j = SCALE·Σ_i ∂L_ij·imn_i; and through the normalisation t/‖t‖,
 * ∂/∂t_j = (∂tfn_j − tfn_j·(tfn_j·∂tfn_j)) / ‖t_j‖.
 */
function conceptLoss(
  image: ArrayLike<number>,
  text: ArrayLike<number>,
  dim: number,
): { loss: number; grad: Float64Array } {
  const n = image.length / dim, m = text.length / dim;
  assert.equal(m, 3, "the loss pairs prompt 0 against prompts 1 and 2");
  const normalise = (x: ArrayLike<number>, rows: number) => {
    const out = new Float64Array(rows * dim), norms = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += x[r * dim + k] ** 2;
      norms[r] = Math.sqrt(s);
      for (let k = 0; k < dim; k++) out[r * dim + k] = x[r * dim + k] / norms[r];
    }
    return { out, norms };
  };
  const imn = normalise(image, n).out;
  const { out: tfn, norms } = normalise(text, m);
  const sigma = (z: number) => 1 / (1 + Math.exp(-z));
  const dTfn = new Float64Array(m * dim);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const logits = [0, 1, 2].map((j) => {
      let s = 0;
      for (let k = 0; k < dim; k++) s += imn[i * dim + k] * tfn[j * dim + k];
      return SCALE * s;
    });
    const p = sigma(logits[0] - logits[1]), q = sigma(logits[0] - logits[2]);
    loss += (-p + Math.max(q - MARGIN, 0)) / n;
    const dp = p * (1 - p) / n, dq = q > MARGIN ? q * (1 - q) / n : 0;
    const dLogits = [-dp + dq, dp, -dq];
    for (let j = 0; j < 3; j++) {
      for (let k = 0; k < dim; k++) dTfn[j * dim + k] += SCALE * dLogits[j] * imn[i * dim + k];
    }
  }
  const grad = new Float64Array(m * dim);
  for (let j = 0; j < m; j++) {
    let dot = 0;
    for (let k = 0; k < dim; k++) dot += tfn[j * dim + k] * dTfn[j * dim + k];
    for (let k = 0; k < dim; k++) grad[j * dim + k] = (dTfn[j * dim + k] - tfn[j * dim + k] * dot) / norms[j];
  }
  return { loss, grad };
}

/**
 * Central differences of conceptLoss in float64 (h = 1e-6: truncation ~h², rounding ~1e-16/h, both
 * far below 1e-7 of the gradient's norm). Valid away from the relu's kink, which the cases are.
 */
function assertGradientByDifferences(
  image: ArrayLike<number>,
  text: Float64Array,
  dim: number,
  grad: Float64Array,
): void {
  const h = 1e-6;
  let worst = 0;
  for (let i = 0; i < text.length; i++) {
    const plus = text.slice(), minus = text.slice();
    plus[i] += h;
    minus[i] -= h;
    const fd = (conceptLoss(image, plus, dim).loss - conceptLoss(image, minus, dim).loss) / (2 * h);
    worst = Math.max(worst, Math.abs(fd - grad[i]));
  }
  assert.ok(
    worst < 1e-7 * Math.max(1, norm(grad)),
    `dL/dfeatures: max abs error ${worst} against differences`,
  );
}

Deno.test("conceptLoss() gradient matches central finite differences in float64", () => {
  const dim = 5;
  const wave = (n: number, phase: number) =>
    Float64Array.from({ length: n }, (_, i) => Math.sin(1.3 * i + phase));
  const image = wave(2 * dim, 0.2);
  // Near-parallel prompts keep the logit gaps small, so both softmaxes stay off saturation and the
  // relu is active with a sizeable slope (in the fixtures it is either off or saturated).
  const text = Float64Array.from(wave(3 * dim, 1.1), (v, i) => wave(dim, 0.4)[i % dim] + 0.05 * v);
  const { grad } = conceptLoss(image, text, dim);
  assertGradientByDifferences(image, text, dim, grad);
  assert.ok(norm(grad) > 1e-2, "the test case is not in a flat region");
});

for (const model of oracleModels()) {
  Deno.test({
    name: `conceptVJP() reproduces OpenAI's concept loss gradient for ${model.name} (${model.layout} layout)`,
    ...needsShared,
    async fn() {
      await using fixture = await modelDirWithVocab(model.name, model.layout);
      using ref = await openSafetensors(
        sharedPath("fixtures/clip-oracle", model.name, "reference.safetensors"),
      );
      const clip = await loadClip(fixture.dir, { device: "cpu", cacheDir: fixture.cacheDir, log: () => {} });
      try {
        const prompts: string[] = model.reference.concept_prompts;
        const placeholder: string = model.reference.placeholder_word;
        const concept = (await ref.read("concept_init")).data;
        const image = (await ref.read("image_features")).data;
        const embed = clip.config.embedDim;

        const features = await clip.encodeTextWithConcept(prompts, placeholder, concept);
        const { loss, grad } = conceptLoss(image, features, embed);
        const lossError = Math.abs(loss - (await ref.read("concept_loss")).data[0]);
        assert.ok(
          lossError <= LOSS_TOL,
          `concept_loss error ${lossError.toExponential(3)} exceeds ${LOSS_TOL}`,
        );
        assertGradientByDifferences(image, Float64Array.from(features), embed, grad);

        const gradConcept = await clip.conceptVJP(prompts, placeholder, concept, Float32Array.from(grad));
        const expected = (await ref.read("concept_grad")).data;
        const relError = norm(gradConcept.map((v, i) => v - expected[i])) / norm(expected);
        console.log(
          `${model.name} (${model.layout}): concept_loss abs error ${
            lossError.toExponential(2)
          }, grad_concept error ` +
            `${relError.toExponential(2)} of its norm (max abs ${
              maxAbsDiff(gradConcept, expected).toExponential(2)
            })`,
        );
        assert.ok(
          relError <= GRAD_REL_TOL,
          `grad_concept error ${relError.toExponential(3)} of its norm exceeds ${GRAD_REL_TOL}`,
        );
      } finally {
        await clip.dispose();
      }
    },
  });
}
