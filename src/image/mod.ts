/**
 * TODO-DOC image
 *
 * @module
 */
export { decodeImage, DEFAULT_MAX_PIXELS, readImageHeader } from "./decode.ts";
export type { ImageHeader, Rgb8Image } from "./decode.ts";
export { clipResizeGeometry, resizeBicubic, resizeForClip } from "./resize_bicubic.ts";
export type { CropBox, ResizeMode } from "./resize_bicubic.ts";
export { resizeBilinear } from "./resize_bilinear.ts";
export type { Raster8 } from "./resize_bilinear.ts";
