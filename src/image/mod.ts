/**
 * Pixels in: PNG and JPEG decoded to RGB8 the way CLIP's Pillow pipeline sees them (sizes read from
 * the header first, so an oversized frame is refused before it is decoded), Pillow-exact bicubic
 * resizing for CLIP's `Resize` + `CenterCrop`, and a bilinear resampler for masks and maps. Nothing
 * here knows of models; the WebAssembly kernels behind the hot loops are private.
 *
 * @example A frame decoded and cut to CLIP's input
 * ```ts
 * import { deepStrictEqual, strictEqual } from "node:assert/strict";
 * import { Image } from "imagescript";
 * import { decodeImage, readImageHeader, resizeForClip } from "./mod.ts";
 * const png = await new Image(320, 240).fill(0x336699ff).encode();
 * deepStrictEqual(readImageHeader(png), { format: "png", width: 320, height: 240 });
 * const frame = await decodeImage(png);
 * const input = resizeForClip(frame, { size: 224, mode: "crop" });
 * strictEqual(input.width * input.height, 224 * 224);
 * deepStrictEqual([...input.data.subarray(0, 3)], [0x33, 0x66, 0x99]);
 * ```
 *
 * @module
 */
export { decodeImage, DEFAULT_MAX_PIXELS } from "./decode.ts";
export type { DecodeOptions } from "./decode.ts";
export { readImageHeader } from "./header.ts";
export { readDecodeCost } from "./decode_cost.ts";
export type { DecodeCost } from "./decode_cost.ts";
export type { ImageFormat, ImageHeader } from "./header.ts";
export type { Rgb8Image } from "./rgb8_image.ts";
export { clipResizeGeometry, resizeBicubic, resizeForClip } from "./resize_bicubic.ts";
export type {
  ClipResizeGeometry,
  ClipResizeOptions,
  CropBox,
  ResizeMode,
  ResizeOptions,
} from "./resize_bicubic.ts";
export { resizeBilinear } from "./resize_bilinear.ts";
export type { Raster8 } from "./resize_bilinear.ts";
