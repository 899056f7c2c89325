/**
 * Resizing a frame to a patch backbone's input, as its description says (whole frame squashed, or
 * shorter side scaled and centre-cropped; bilinear or bicubic). Pure, so the service's decode
 * workers can do it before a frame reaches the model thread.
 *
 * @module
 */
import { resizeBicubic, resizeBilinear, type Rgb8Image } from "../../image/mod.ts";

/** How a frame becomes the network's input: squashed whole, or shorter side scaled and centre-cropped. */
export type BackboneResize = "whole" | "crop";
/** The resampling filter (Pillow's, antialiased). */
export type BackboneInterpolation = "bilinear" | "bicubic";

/** How a backbone takes frames of another size. */
export interface FrameResize {
  /** Squashed whole, or shorter side scaled and centre-cropped. */
  resize: BackboneResize;
  /** The resampling filter. */
  interpolation: BackboneInterpolation;
}

/** Resizes a frame to the network input per the config's resize mode and filter. */
export function resizeFrame(
  image: Rgb8Image,
  size: { width: number; height: number },
  config: FrameResize,
): Rgb8Image {
  // Already the input (a frame prepared in a decode worker): nothing to resample.
  if (image.width === size.width && image.height === size.height) return image;
  let target = size;
  let crop: { left: number; top: number; width: number; height: number } | undefined;
  if (config.resize === "crop") {
    // Shorter side to the input's matching side, centre crop: the aspect ratio is kept.
    const s = Math.max(size.width / image.width, size.height / image.height);
    target = {
      width: Math.max(size.width, Math.round(image.width * s)),
      height: Math.max(size.height, Math.round(image.height * s)),
    };
    crop = {
      left: Math.floor((target.width - size.width) / 2),
      top: Math.floor((target.height - size.height) / 2),
      width: size.width,
      height: size.height,
    };
  }
  if (config.interpolation === "bicubic") return resizeBicubic(image, { ...target, crop });
  const full = resizeBilinear({ ...image, channels: 3 }, target);
  if (!crop) return { width: full.width, height: full.height, data: full.data };
  const out = new Uint8Array(crop.width * crop.height * 3);
  for (let y = 0; y < crop.height; y++) {
    const from = ((crop.top + y) * full.width + crop.left) * 3;
    out.set(full.data.subarray(from, from + crop.width * 3), y * crop.width * 3);
  }
  return { width: crop.width, height: crop.height, data: out };
}

/** The frame resized for one patch extractor. */
export interface PatchInputSpec extends FrameResize {
  /** Names the input among a frame's `patchInputs`; equal keys mean equal inputs. */
  key: string;
  /** The input's width. */
  width: number;
  /** The input's height. */
  height: number;
}
