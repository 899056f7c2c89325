/**
 * A tiny random UNet and VAE with the input and output signatures of Stable Diffusion's ONNX
 * exports (Optimum's names), built with the project's graph builder so that CI exercises every
 * step of the diffusion pipeline without the real weights:
 *
 * - UNet: `sample` float32 [batch, 4, h, w], `timestep` int64 [steps] (as Optimum declares it; steps
 *   is 1 or the batch), `encoder_hidden_states` float32 [batch, 77, D] → `out_sample` [batch, 4, h, w].
 *   A sinusoidal timestep embedding, residual blocks and two cross-attentions to the text tokens, at
 *   the latent resolution (any h, w).
 * - VAE encoder: `sample` [batch, 3, H, W] in [-1, 1] → `latent_parameters` [batch, 8, H/8, W/8]
 *   (mean and log-variance concatenated on channels, as recent Optimum exports write it).
 * - VAE decoder: `latent_sample` [batch, 4, h, w] → `sample` [batch, 3, 8h, 8w].
 *
 * @module
 */
import {
  cast,
  concat,
  cos,
  GraphBuilder,
  mul,
  sin,
  unsqueeze,
  upsampleLinear,
  type Value,
} from "../onnx/mod.ts";
import { conv, crossAttention, dense, normSilu, resBlock, silu, TinyParams } from "./_tiny_layers.ts";

/** Latent channels of every SD VAE. */
export const LATENT_CHANNELS = 4;
/** Width of the tiny UNet's feature maps. */
const UNET_WIDTH = 32;
/** Sinusoid frequencies of the timestep embedding (diffusers: the UNet's first block width). */
const TIME_FREQUENCIES = 16;
const TIME_WIDTH = 64;

/** The tiny UNet for text width `contextWidth` (the text tower's width). */
export function buildTinyUnet(
  opts: { contextWidth: number; contextLength: number; seed: number },
): GraphBuilder {
  const g = new GraphBuilder("tiny_sd_unet");
  const p = new TinyParams(g, opts.seed);
  const sample = g.input("sample", "float32", ["batch", LATENT_CHANNELS, "height", "width"]);
  const timestep = g.input("timestep", "int64", ["steps"]);
  const context = g.input("encoder_hidden_states", "float32", [
    "batch",
    opts.contextLength,
    opts.contextWidth,
  ]);

  const temb = {
    value: dense(
      p,
      "time_embedding.linear_2",
      silu(dense(p, "time_embedding.linear_1", timestepEmbedding(timestep), {
        in: 2 * TIME_FREQUENCIES,
        out: TIME_WIDTH,
      })),
      { in: TIME_WIDTH, out: TIME_WIDTH },
    ),
    width: TIME_WIDTH,
  };
  const attnDims = { channels: UNET_WIDTH, contextWidth: opts.contextWidth };
  let h = conv(p, "conv_in", sample, { in: LATENT_CHANNELS, out: UNET_WIDTH });
  for (const block of [0, 1]) {
    h = resBlock(p, `blocks.${block}.resnet`, h, UNET_WIDTH, temb);
    h = crossAttention(p, `blocks.${block}.attn`, h, context, attnDims);
  }
  const out = conv(p, "conv_out", normSilu(p, "conv_norm_out", h, UNET_WIDTH), {
    in: UNET_WIDTH,
    out: LATENT_CHANNELS,
  });
  g.output("out_sample", out);
  return g;
}

/** diffusers' `get_timestep_embedding` with `flip_sin_to_cos` (SD's): [cos(t·f), sin(t·f)], f = 10000^(−i/half). */
function timestepEmbedding(timestep: Value): Value {
  const g = timestep.graph;
  const freqs = g.constant(
    Array.from({ length: TIME_FREQUENCIES }, (_, i) => Math.exp(-Math.log(10000) * i / TIME_FREQUENCIES)),
    [1, TIME_FREQUENCIES],
  );
  const angles = mul(unsqueeze(cast(timestep, "float32"), [1]), freqs);
  return concat([cos(angles), sin(angles)], 1);
}

/** Channels of the VAE at the image resolution and at each halving. */
const VAE_WIDTHS = [8, 16, 32, 32] as const;

/** The tiny VAE encoder: three stride-2 convolutions to 1/8 of the image side. */
export function buildTinyVaeEncoder(opts: { seed: number }): GraphBuilder {
  const g = new GraphBuilder("tiny_sd_vae_encoder");
  const p = new TinyParams(g, opts.seed);
  const sample = g.input("sample", "float32", ["batch", 3, "height", "width"]);
  let h = conv(p, "encoder.conv_in", sample, { in: 3, out: VAE_WIDTHS[0] });
  for (let level = 1; level < VAE_WIDTHS.length; level++) {
    h = conv(p, `encoder.down.${level}`, h, { in: VAE_WIDTHS[level - 1], out: VAE_WIDTHS[level] }, {
      stride: 2,
    });
  }
  const top = VAE_WIDTHS[VAE_WIDTHS.length - 1];
  h = resBlock(p, "encoder.mid", h, top);
  const moments = conv(p, "encoder.conv_out", normSilu(p, "encoder.norm_out", h, top), {
    in: top,
    out: 2 * LATENT_CHANNELS,
  });
  g.output("latent_parameters", moments);
  return g;
}

/** The tiny VAE decoder: three bilinear doublings, each followed by a convolution. */
export function buildTinyVaeDecoder(opts: { seed: number }): GraphBuilder {
  const g = new GraphBuilder("tiny_sd_vae_decoder");
  const p = new TinyParams(g, opts.seed);
  const latent = g.input("latent_sample", "float32", ["batch", LATENT_CHANNELS, "height", "width"]);
  const top = VAE_WIDTHS.length - 1;
  let h = conv(p, "decoder.conv_in", latent, { in: LATENT_CHANNELS, out: VAE_WIDTHS[top] });
  h = resBlock(p, "decoder.mid", h, VAE_WIDTHS[top]);
  for (let level = top; level > 0; level--) {
    h = conv(p, `decoder.up.${level}`, upsampleLinear(h, 2), {
      in: VAE_WIDTHS[level],
      out: VAE_WIDTHS[level - 1],
    });
  }
  const image = conv(p, "decoder.conv_out", normSilu(p, "decoder.norm_out", h, VAE_WIDTHS[0]), {
    in: VAE_WIDTHS[0],
    out: 3,
  });
  g.output("sample", image);
  return g;
}
