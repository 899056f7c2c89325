/**
 * The text tower's vector–Jacobian-product graph: what textual inversion steps with. It is the text
 * graph of `buildTextGraph` (same inputs, same `text_features` output, the forward recomputed
 * inside it) plus an input `grad_features` = dL/dfeatures and an output `grad_concept` = dL/dconcept,
 * built by the autodiff walker from the ops' rules. The loss lives in TypeScript: run the text graph
 * (or this one) for the features, compute the loss and its gradient there, then run this graph.
 *
 * Inputs: those of the text graph plus `grad_features` float32 [batch, embed].
 * Outputs: `text_features` [batch, embed], `grad_concept` [width].
 *
 * @module
 */
import { gradients, type GraphBuilder, type OnnxSession, type RunTensor, type Value } from "../onnx/mod.ts";
import { ShapeError } from "../errors.ts";
import type { ClipConfig, TextWeights } from "../clip/mod.ts";
import { buildTextGraph, type TextGraphInputs } from "./text_tower.ts";

/** Name of the upstream-gradient input. */
export const GRAD_FEATURES_INPUT = "grad_features";
/** Name of the concept-gradient output. */
export const GRAD_CONCEPT_OUTPUT = "grad_concept";
/** Name of the features output (shared with the text graph). */
export const TEXT_FEATURES_OUTPUT = "text_features";

/** The built VJP graph and its named values. */
export interface TextVjpGraph {
  graph: GraphBuilder;
  /** The text graph's inputs plus the upstream gradient. */
  inputs: TextGraphInputs & { gradFeatures: Value };
  /** [batch, embed] */
  features: Value;
  /** [width] */
  gradConcept: Value;
}

/**
 * Builds the text VJP graph for `config` with `weights`.
 *
 * @param config the model's architecture
 * @param weights the text tower's weights
 * @returns the graph (write it with `writeOnnxModel`, open it with `createSession`) and its values
 * @throws {GraphError} when the text graph uses an op without a gradient rule (VJP_MISSING)
 *
 * @example Build and inspect
 * ```ts
 * import assert from "node:assert/strict";
 * import { openCheckpoint } from "../clip/mod.ts";
 * import { buildTextVjpGraph } from "./text_vjp.ts";
 *
 * using checkpoint = await openCheckpoint("../shared/fixtures/clip-oracle/tiny-gelu-hf");
 * const weights = await checkpoint.readWeights();
 * const vjp = buildTextVjpGraph(checkpoint.config, weights.text);
 * assert.deepEqual(vjp.gradConcept.shape, [checkpoint.config.text.width]);
 * assert.deepEqual(vjp.graph.outputs.map((v) => v.name), ["text_features", "grad_concept"]);
 * ```
 */
export function buildTextVjpGraph(config: ClipConfig, weights: TextWeights): TextVjpGraph {
  const { graph, inputs, features } = buildTextGraph(config, weights);
  const gradFeatures = graph.input(GRAD_FEATURES_INPUT, "float32", ["batch", config.embedDim]);
  const [gradConcept] = gradients(features, [inputs.concept], { seed: gradFeatures });
  // The concept always reaches the features through the embedding mix, so the walker returns a value.
  graph.output(GRAD_CONCEPT_OUTPUT, gradConcept!);
  return { graph, inputs: { ...inputs, gradFeatures }, features, gradConcept: gradConcept! };
}

/** What {@linkcode runTextVjp} takes. */
export interface TextVjpInput {
  /** The text graph's feeds, as `ClipModel.textFeeds(texts, { placeholder, concept })` makes them. */
  feeds: Readonly<Record<string, RunTensor>>;
  /** dL/dfeatures, [batch · embed] row-major. */
  gradFeatures: Float32Array;
}

/**
 * Runs a session of the text VJP graph once: the features of the prompts and the gradient of the
 * loss with respect to the concept, given the loss's gradient with respect to those features.
 *
 * @param session a session opened on the graph of {@linkcode buildTextVjpGraph}
 * @param input the text feeds and dL/dfeatures
 * @returns `gradConcept` [width] and the recomputed `features` [batch · embed]
 * @throws {ShapeError} when `gradFeatures` does not hold a whole number of rows per prompt
 * @throws {OnnxRunError} when onnxruntime rejects the feeds (e.g. a wrong embedding width)
 */
export async function runTextVjp(
  session: OnnxSession,
  input: TextVjpInput,
): Promise<{ gradConcept: Float32Array; features: Float32Array }> {
  const batch = input.feeds.input_ids?.dims[0];
  if (!batch || input.gradFeatures.length % batch !== 0) {
    throw new ShapeError(
      `The feature gradient holds ${input.gradFeatures.length} values, not a row for each of ${batch} prompts`,
    );
  }
  const out = await session.run(
    {
      ...input.feeds,
      [GRAD_FEATURES_INPUT]: { data: input.gradFeatures, dims: [batch, input.gradFeatures.length / batch] },
    },
    [GRAD_CONCEPT_OUTPUT, TEXT_FEATURES_OUTPUT],
  );
  return {
    gradConcept: out[GRAD_CONCEPT_OUTPUT].data as Float32Array,
    features: out[TEXT_FEATURES_OUTPUT].data as Float32Array,
  };
}
