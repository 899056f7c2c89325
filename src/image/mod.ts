/**
 * TODO-DOC image
 *
 * @module
 */
export { decodeImage, DEFAULT_MAX_PIXELS } from "./decode.ts";
export type { DecodeOptions } from "./decode.ts";
export { readImageHeader } from "./header.ts";
export type { ImageFormat, ImageHeader } from "./header.ts";
export type { Rgb8Image } from "./rgb8_image.ts";
export { clipResizeGeometry, resizeBicubic, resizeForClip } from "./resize_bicubic.ts";
export type { CropBox, ResizeMode } from "./resize_bicubic.ts";
export { resizeBilinear } from "./resize_bilinear.ts";
export type { Raster8 } from "./resize_bilinear.ts";
