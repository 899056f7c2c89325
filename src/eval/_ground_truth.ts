/**
 * The pixel ground truth at the evaluation's resolution, and anomaly maps brought to it.
 *
 * With a square side S (the proxy README's protocol, S = 224) each mask is resized to S×S with
 * Pillow's bilinear filter and thresholded at 128, and every map is resized to S×S. With `mask`,
 * maps are resized to each mask's own size (the image's) and masks are thresholded where they are.
 *
 * @module
 */
import { readImageHeader, resizeBilinear } from "../image/mod.ts";
import { type FloatMap, upsampleBilinear } from "../adp/patch/mod.ts";
import type { MapSize } from "../metrics/mod.ts";
import { loadMask, type TestSample } from "./datasets.ts";
import type { PixelSize } from "./protocol.ts";

/** Every test image's mask at the evaluation resolution, laid end to end. */
export interface PixelTruth {
  /** Each image's map size, in test order. */
  sizes: MapSize[];
  /** Start of each image's pixels. */
  offsets: number[];
  /** 1 on defect pixels. */
  pixels: Uint8Array;
}

/** Loads the masks of `test` at the resolution `pixelSize` asks for. */
export async function loadPixelTruth(test: readonly TestSample[], pixelSize: PixelSize): Promise<PixelTruth> {
  const sizes: MapSize[] = [];
  for (const sample of test) {
    sizes.push(pixelSize === "mask" ? await imageSize(sample.path) : { width: pixelSize, height: pixelSize });
  }
  const offsets: number[] = [];
  let total = 0;
  for (const s of sizes) {
    offsets.push(total);
    total += s.width * s.height;
  }
  const pixels = new Uint8Array(total);
  for (const [i, sample] of test.entries()) {
    if (!sample.maskPath) continue;
    const mask = await loadMask(sample, pixelSize === "mask" ? sizes[i] : await imageSize(sample.path));
    // Grey masks (MVTec's 255, magnetic tile's soft edges) are cut at 128, as the proxy README cuts
    // them; label masks whose values stay below 128 (VisA's 1, 2…) mark every non-zero pixel.
    let max = 0;
    for (const v of mask.data) if (v > max) max = v;
    if (max < 128) { for (let p = 0; p < mask.data.length; p++) mask.data[p] = mask.data[p] ? 255 : 0; }
    const fitted = pixelSize === "mask" ? mask : resizeBilinear(mask, sizes[i]);
    const out = pixels.subarray(offsets[i], offsets[i] + sizes[i].width * sizes[i].height);
    for (let p = 0; p < out.length; p++) out[p] = fitted.data[p] >= 128 ? 1 : 0;
  }
  return { sizes, offsets, pixels };
}

/** A map resized (bilinear, half-pixel centres) to the evaluation size of one image. */
export function fitMap(map: FloatMap, size: MapSize): Float32Array {
  if (map.width === size.width && map.height === size.height) return map.data;
  return upsampleBilinear(map, size).data;
}

async function imageSize(path: string): Promise<MapSize> {
  const { width, height } = readImageHeader(await Deno.readFile(path));
  return { width, height };
}
