/**
 * The two ways a CLIP checkpoint names its tensors: OpenCLIP's (state-dict names of OpenAI's code,
 * with `open_clip_config.json`) and Hugging Face transformers' (`CLIPModel` names, with
 * `config.json`). Tensor names are spelled here and nowhere else.
 *
 * @module
 */

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
