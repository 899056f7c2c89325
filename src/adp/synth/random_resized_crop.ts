/**
 * torchvision's `RandomResizedCrop`, with a mask carried along and an optional point the crop must
 * keep in view: a pseudo-anomaly cropped away from its defect would be a normal image labelled
 * anomalous.
 *
 * @module
 */
import { ConfigError } from "../../errors.ts";
import type { Random } from "../../random.ts";
import { type CropBox, resizeBicubic, type Rgb8Image } from "../../image/mod.ts";

/** How a crop box is drawn, as in torchvision. */
export interface CropBoxOptions {
  /** Range of the crop's area as a fraction of the image's area. */
  scale: readonly [number, number];
  /** Range of the crop's aspect ratio, width / height, drawn log-uniformly. */
  ratio: readonly [number, number];
  /**
   * A pixel the crop must contain. The box's size is drawn as torchvision draws it; its position is
   * then drawn among those that hold this pixel away from the box's outer tenth where the image allows.
   * @default {undefined: any position, exactly torchvision}
   */
  contains?: { x: number; y: number };
}

/** Options for {@linkcode randomResizedCrop}. */
export interface RandomResizedCropOptions extends CropBoxOptions {
  /** Side of the square output. */
  size: number;
  /**
   * A `width * height` mask (0 or 255) cut and resized with the image.
   * @default {undefined}
   */
  mask?: Uint8Array;
}

/** What {@linkcode randomResizedCrop} returns. */
export interface ResizedCrop {
  image: Rgb8Image;
  /** The mask resized like the image and thresholded back to 0/255; undefined without an input mask. */
  mask: Uint8Array | undefined;
  /** The region of the source image that was kept. */
  box: CropBox;
}

/** torchvision's number of tries before it falls back to the centre crop. */
const ATTEMPTS = 10;
/** Fraction of the box at each side that `contains` avoids, so a defect is not left on the crop's rim. */
const RIM = 0.1;

/**
 * Draws a crop box the way `torchvision.transforms.RandomResizedCrop.get_params` does: up to ten
 * tries of an area in `scale` and a log-uniform aspect ratio in `ratio`, then a centre crop with the
 * ratio clamped into range.
 *
 * @param size the image's width and height
 * @param random the random source
 * @param opts area and ratio ranges, and a pixel to keep in view
 * @returns a box inside the image
 * @throws {ConfigError} when a range is empty or not positive, or the pixel is outside the image
 *
 * @example A box always fits the image
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { Random } from "../../random.ts";
 * const box = randomResizedCropBox({ width: 100, height: 80 }, new Random(3), {
 *   scale: [0.5, 1],
 *   ratio: [3 / 4, 4 / 3],
 *   contains: { x: 5, y: 5 },
 * });
 * ok(box.left <= 5 && box.top <= 5 && box.left + box.width <= 100 && box.top + box.height <= 80);
 * ```
 */
export function randomResizedCropBox(
  size: { width: number; height: number },
  random: Random,
  opts: CropBoxOptions,
): CropBox {
  const { width, height } = size;
  const { scale, ratio, contains } = opts;
  checkRange("scale", scale);
  checkRange("ratio", ratio);
  if (
    contains &&
    !(contains.x >= 0 && contains.x < width && contains.y >= 0 && contains.y < height)
  ) {
    throw new ConfigError(
      `Crop point is outside the image: (${contains.x}, ${contains.y}) in ${width}×${height}`,
    );
  }
  const area = width * height;
  const logLo = Math.log(ratio[0]), logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const target = area * random.uniform(scale[0], scale[1]);
    const aspect = Math.exp(random.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return {
        left: position(random, width, w, contains?.x),
        top: position(random, height, h, contains?.y),
        width: w,
        height: h,
      };
    }
  }
  const inRatio = width / height;
  let w = width, h = height;
  if (inRatio < ratio[0]) h = roundHalfEven(width / ratio[0]);
  else if (inRatio > ratio[1]) w = roundHalfEven(height * ratio[1]);
  return {
    left: centred(width, w, contains?.x),
    top: centred(height, h, contains?.y),
    width: w,
    height: h,
  };
}

/**
 * Cuts a {@linkcode randomResizedCropBox} out of `image` (and `mask`) and resizes it to
 * `size`×`size` with the antialiased bicubic filter. The mask goes through the same filter, so it
 * stays aligned to the pixel, and is thresholded at half coverage; a defect thinner than half an
 * output pixel keeps its strongest pixels rather than vanishing from the mask.
 *
 * @param image the source image
 * @param random the random source
 * @param opts output size, area and ratio ranges, mask and pixel to keep
 * @returns the resized crop, its mask and the box it came from
 * @throws {ConfigError} when the size is not a positive integer, a range is invalid or the mask has the wrong length
 *
 * @example A 224×224 crop of a 300×200 image
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { Random } from "../../random.ts";
 * const image = { width: 300, height: 200, data: new Uint8Array(300 * 200 * 3).fill(7) };
 * const out = randomResizedCrop(image, new Random(0), { size: 224, scale: [0.5, 1], ratio: [0.75, 4 / 3] });
 * strictEqual(out.image.width * out.image.height, 224 * 224);
 * strictEqual(out.image.data[0], 7);
 * ```
 */
export function randomResizedCrop(
  image: Rgb8Image,
  random: Random,
  opts: RandomResizedCropOptions,
): ResizedCrop {
  const { size, mask } = opts;
  if (!(Number.isInteger(size) && size > 0)) {
    throw new ConfigError(`Crop size must be a positive integer: got ${size}`);
  }
  if (mask && mask.length !== image.width * image.height) {
    throw new ConfigError(
      `Mask has the wrong length: ${mask.length} for a ${image.width}×${image.height} image`,
    );
  }
  const box = randomResizedCropBox(image, random, opts);
  const out = resizeBicubic(cut(image, box), { width: size, height: size });
  if (!mask) return { image: out, mask: undefined, box };

  const maskRgb = new Uint8Array(box.width * box.height * 3);
  for (let y = 0; y < box.height; y++) {
    const row = (box.top + y) * image.width + box.left;
    for (let x = 0; x < box.width; x++) {
      maskRgb.fill(mask[row + x], (y * box.width + x) * 3, (y * box.width + x + 1) * 3);
    }
  }
  const resized = resizeBicubic({ width: box.width, height: box.height, data: maskRgb }, {
    width: size,
    height: size,
  }).data;
  let peak = 0;
  for (let i = 0; i < resized.length; i += 3) peak = Math.max(peak, resized[i]);
  const threshold = Math.max(1, Math.min(128, Math.ceil(peak / 2)));
  const outMask = new Uint8Array(size * size);
  for (let i = 0; i < outMask.length; i++) outMask[i] = resized[i * 3] >= threshold ? 255 : 0;
  return { image: out, mask: outMask, box };
}

function cut(image: Rgb8Image, box: CropBox): Rgb8Image {
  if (box.left === 0 && box.top === 0 && box.width === image.width && box.height === image.height) {
    return image;
  }
  const data = new Uint8Array(box.width * box.height * 3);
  const rowBytes = box.width * 3;
  for (let y = 0; y < box.height; y++) {
    const from = ((box.top + y) * image.width + box.left) * 3;
    data.set(image.data.subarray(from, from + rowBytes), y * rowBytes);
  }
  return { width: box.width, height: box.height, data };
}

/** A uniform offset for a span of `span` in `extent`, keeping `point` inside when given. */
function position(random: Random, extent: number, span: number, point?: number): number {
  if (point === undefined) return random.int(0, extent - span);
  const rim = Math.floor(span * RIM);
  let lo = Math.max(0, point - span + 1 + rim);
  let hi = Math.min(extent - span, point - rim);
  if (lo > hi) {
    // The image edge is closer than the rim: any position that holds the point will do.
    lo = Math.max(0, point - span + 1);
    hi = Math.min(extent - span, point);
  }
  return random.int(lo, hi);
}

/** torchvision's centre offset, shifted as little as needed to hold `point`. */
function centred(extent: number, span: number, point?: number): number {
  const offset = Math.floor((extent - span) / 2);
  if (point === undefined) return offset;
  return Math.min(Math.max(offset, point - span + 1), point);
}

function checkRange(name: string, range: readonly [number, number]): void {
  if (!(range.length === 2 && range[0] > 0 && range[0] <= range[1] && Number.isFinite(range[1]))) {
    throw new ConfigError(
      `Crop ${name} must be a range [lo, hi] with 0 < lo ≤ hi: got [${range.join(", ")}]`,
    );
  }
}

/** Python's `round`, which torchvision uses: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
