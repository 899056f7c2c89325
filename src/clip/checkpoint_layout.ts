/**
 * The two ways a CLIP checkpoint names its tensors: OpenCLIP's (state-dict names of OpenAI's code,
 * with `open_clip_config.json`) and Hugging Face transformers' (`CLIPModel` names, with
 * `config.json`). Tensor names are spelled here and nowhere else, and so is the list of tensors a
 * config needs in each layout.
 *
 * @module
 */
import type { ClipConfig } from "./config.ts";

/** How a checkpoint names its tensors and which config schema it uses. */
export type CheckpointLayout = "openclip" | "hf";

/** Tensor names of one layout. Block names are suffixes after `${blocks}.${i}.`. */
export interface LayoutNames {
  /** The image tower's tensors. */
  readonly vision: {
    readonly patchEmbed: string;
    readonly classEmbed: string;
    readonly posEmbed: string;
    /** LayerNorm prefix; `.weight` and `.bias` follow. */
    readonly lnPre: string;
    readonly lnPost: string;
    readonly proj: string;
    readonly blocks: string;
  };
  /** The text tower's tensors. */
  readonly text: {
    readonly tokenEmbed: string;
    readonly posEmbed: string;
    readonly lnFinal: string;
    readonly proj: string;
    readonly blocks: string;
  };
  /** The learned log temperature. */
  readonly logitScale: string;
  /** Tensors of one residual block. */
  readonly block: {
    readonly ln1: string;
    /** One fused tensor, or query, key and value in that order. */
    readonly qkvWeight: readonly string[];
    readonly qkvBias: readonly string[];
    readonly outWeight: string;
    readonly outBias: string;
    readonly ln2: string;
    readonly fcWeight: string;
    readonly fcBias: string;
    readonly projWeight: string;
    readonly projBias: string;
  };
  /** Whether the towers' output projections are stored as [embed, width] (a Linear weight). */
  readonly projTransposed: boolean;
}

/** Tensor names per layout. */
export const LAYOUT_NAMES: Readonly<Record<CheckpointLayout, LayoutNames>> = Object.freeze({
  openclip: {
    vision: {
      patchEmbed: "visual.conv1.weight",
      classEmbed: "visual.class_embedding",
      posEmbed: "visual.positional_embedding",
      lnPre: "visual.ln_pre",
      lnPost: "visual.ln_post",
      proj: "visual.proj",
      blocks: "visual.transformer.resblocks",
    },
    text: {
      tokenEmbed: "token_embedding.weight",
      posEmbed: "positional_embedding",
      lnFinal: "ln_final",
      proj: "text_projection",
      blocks: "transformer.resblocks",
    },
    logitScale: "logit_scale",
    block: {
      ln1: "ln_1",
      qkvWeight: ["attn.in_proj_weight"],
      qkvBias: ["attn.in_proj_bias"],
      outWeight: "attn.out_proj.weight",
      outBias: "attn.out_proj.bias",
      ln2: "ln_2",
      fcWeight: "mlp.c_fc.weight",
      fcBias: "mlp.c_fc.bias",
      projWeight: "mlp.c_proj.weight",
      projBias: "mlp.c_proj.bias",
    },
    projTransposed: false,
  },
  hf: {
    vision: {
      patchEmbed: "vision_model.embeddings.patch_embedding.weight",
      classEmbed: "vision_model.embeddings.class_embedding",
      posEmbed: "vision_model.embeddings.position_embedding.weight",
      // Spelled this way in transformers.
      lnPre: "vision_model.pre_layrnorm",
      lnPost: "vision_model.post_layernorm",
      proj: "visual_projection.weight",
      blocks: "vision_model.encoder.layers",
    },
    text: {
      tokenEmbed: "text_model.embeddings.token_embedding.weight",
      posEmbed: "text_model.embeddings.position_embedding.weight",
      lnFinal: "text_model.final_layer_norm",
      proj: "text_projection.weight",
      blocks: "text_model.encoder.layers",
    },
    logitScale: "logit_scale",
    block: {
      ln1: "layer_norm1",
      qkvWeight: ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"],
      qkvBias: ["self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"],
      outWeight: "self_attn.out_proj.weight",
      outBias: "self_attn.out_proj.bias",
      ln2: "layer_norm2",
      fcWeight: "mlp.fc1.weight",
      fcBias: "mlp.fc1.bias",
      projWeight: "mlp.fc2.weight",
      projBias: "mlp.fc2.bias",
    },
    projTransposed: true,
  },
});

/** One canonical tensor and where a layout stores it. */
export interface LayoutTensor {
  /** Canonical key, e.g. `vision.blocks.0.qkvWeight` or `text.lnFinal.bias`. */
  readonly key: string;
  /** Canonical shape. */
  readonly shape: readonly number[];
  /** Stored tensors, concatenated along axis 0 to form the canonical tensor (HF splits q, k, v). */
  readonly parts: readonly { readonly name: string; readonly shape: readonly number[] }[];
  /** Whether the (single, 2-d) stored tensor is the transpose of the canonical one. */
  readonly transposed: boolean;
}

/**
 * Every tensor a config needs, in canonical terms, with the names and shapes a layout stores.
 *
 * @param config the architecture
 * @param layout the naming
 * @returns in a stable order: vision tower, text tower, logit scale
 *
 * @example
 * ```ts
 * import { layoutTensors } from "./checkpoint_layout.ts";
 * import { getArchitecture } from "./architectures.ts";
 * const proj = layoutTensors(getArchitecture("tiny"), "hf").find((t) => t.key === "vision.proj");
 * if (proj?.parts[0].name !== "visual_projection.weight" || !proj.transposed) throw new Error("Unexpected");
 * ```
 */
export function layoutTensors(config: ClipConfig, layout: CheckpointLayout): LayoutTensor[] {
  const n = LAYOUT_NAMES[layout];
  const out: LayoutTensor[] = [];
  const one = (key: string, name: string, shape: number[]) =>
    out.push({ key, shape, parts: [{ name, shape }], transposed: false });
  const ln = (key: string, prefix: string, width: number) => {
    one(`${key}.weight`, `${prefix}.weight`, [width]);
    one(`${key}.bias`, `${prefix}.bias`, [width]);
  };
  const fused = (key: string, names: readonly string[], shape: number[]) => {
    const partShape = [shape[0] / names.length, ...shape.slice(1)];
    out.push({ key, shape, parts: names.map((name) => ({ name, shape: partShape })), transposed: false });
  };
  const proj = (key: string, name: string, width: number, embed: number) =>
    out.push({
      key,
      shape: [width, embed],
      parts: [{ name, shape: n.projTransposed ? [embed, width] : [width, embed] }],
      transposed: n.projTransposed,
    });
  const blocks = (tower: string, prefix: string, width: number, mlp: number, layers: number) => {
    const b = n.block;
    for (let i = 0; i < layers; i++) {
      const k = `${tower}.blocks.${i}`, p = `${prefix}.${i}.`;
      ln(`${k}.ln1`, p + b.ln1, width);
      fused(`${k}.qkvWeight`, b.qkvWeight.map((s) => p + s), [3 * width, width]);
      fused(`${k}.qkvBias`, b.qkvBias.map((s) => p + s), [3 * width]);
      one(`${k}.outWeight`, p + b.outWeight, [width, width]);
      one(`${k}.outBias`, p + b.outBias, [width]);
      ln(`${k}.ln2`, p + b.ln2, width);
      one(`${k}.fcWeight`, p + b.fcWeight, [mlp, width]);
      one(`${k}.fcBias`, p + b.fcBias, [mlp]);
      one(`${k}.projWeight`, p + b.projWeight, [width, mlp]);
      one(`${k}.projBias`, p + b.projBias, [width]);
    }
  };
  const v = config.vision, t = config.text;
  const grid = v.imageSize / v.patchSize;
  one("vision.patchEmbed", n.vision.patchEmbed, [v.width, 3, v.patchSize, v.patchSize]);
  one("vision.classEmbed", n.vision.classEmbed, [v.width]);
  one("vision.posEmbed", n.vision.posEmbed, [1 + grid * grid, v.width]);
  ln("vision.lnPre", n.vision.lnPre, v.width);
  blocks("vision", n.vision.blocks, v.width, v.mlpWidth, v.layers);
  ln("vision.lnPost", n.vision.lnPost, v.width);
  proj("vision.proj", n.vision.proj, v.width, config.embedDim);
  one("text.tokenEmbed", n.text.tokenEmbed, [t.vocabSize, t.width]);
  one("text.posEmbed", n.text.posEmbed, [t.contextLength, t.width]);
  blocks("text", n.text.blocks, t.width, t.mlpWidth, t.layers);
  ln("text.lnFinal", n.text.lnFinal, t.width);
  proj("text.proj", n.text.proj, t.width, config.embedDim);
  one("logitScale", n.logitScale, []);
  return out;
}
