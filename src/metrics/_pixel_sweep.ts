/**
 * The one descending sweep behind the pixel metrics: regions of the masks labelled, defect-free and
 * defect pixels sorted apart (radix keys, the defect pixels carrying their region), then merged from
 * the highest score down. At each distinct score it updates the false positives and true positives
 * (integers), the per-region overlap (compensated sum of 1/|region|), and from them at once the
 * AUROC's Mann–Whitney count, the best F1, and the PRO curve's trapezoid up to the FPR limit. The
 * defect-free pixels are most of a map, and sorting them is most of the cost: one sort serves all
 * three metrics.
 *
 * @module
 */
import { ConfigError, ShapeError } from "../errors.ts";
import { maskRegions } from "./_regions.ts";
import { float32Bits, floatKey, radixSort } from "./_sort.ts";

/** The size of one map and its mask. */
export interface MapSize {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Options of {@linkcode aupro}. */
export interface AuproOptions {
  /**
   * The size of each image's map, in the order the maps are laid end to end. Either this or
   * `width` and `height` (every map the same size).
   */
  sizes?: readonly MapSize[];
  /** Width of every map, when all share one size. */
  width?: number;
  /** Height of every map, when all share one size. */
  height?: number;
  /**
   * The integration limit on the false-positive rate, in (0, 1].
   * @default {0.3}
   */
  maxFpr?: number;
}

/** The three pixel metrics of one sweep. */
export interface PixelSweep {
  /** Pixel AUROC, ties counted one half. */
  auroc: number;
  /** Normalised area under the PRO curve up to the limit. */
  aupro: number;
  /** The best F1 over all thresholds. */
  f1Max: number;
}

/** Sweeps maps against masks (non-zero = defect); see aupro.ts for the PRO definition. */
export function pixelSweep(scores: Float32Array, masks: Uint8Array, opts: AuproOptions): PixelSweep {
  if (scores.length !== masks.length) {
    throw new ShapeError(`Scores and masks differ in length: ${scores.length} vs ${masks.length}`);
  }
  const maxFpr = opts.maxFpr ?? 0.3;
  if (!(maxFpr > 0 && maxFpr <= 1)) throw new ConfigError(`AUPRO limit must be in (0, 1]: got ${maxFpr}`);
  const sizes = _sizes(scores.length, opts);

  let okCount = 0, defectCount = 0;
  for (let i = 0; i < masks.length; i++) {
    if (Number.isNaN(scores[i])) throw new ConfigError(`Score ${i} is NaN`);
    if (masks[i]) defectCount++;
    else okCount++;
  }
  if (defectCount === 0) {
    throw new ConfigError("Pixel metrics need at least one defect pixel in the masks: got none");
  }
  if (okCount === 0) throw new ConfigError("Pixel metrics need defect-free pixels in the masks: got none");
  const bits = float32Bits(scores);
  const okKeys = new Uint32Array(okCount);
  const defectKeys = new Uint32Array(defectCount);
  const defectRegion = new Uint32Array(defectCount);
  const weights: number[] = [];
  let at = 0, o = 0, d = 0;
  for (const size of sizes) {
    const n = size.width * size.height;
    const { labels, sizes: regionSizes } = maskRegions(masks.subarray(at, at + n), size);
    const first = weights.length;
    for (const s of regionSizes) weights.push(1 / s);
    for (let i = 0; i < n; i++) {
      if (labels[i] < 0) okKeys[o++] = floatKey(bits[at + i]);
      else {
        defectKeys[d] = floatKey(bits[at + i]);
        defectRegion[d++] = first + labels[i];
      }
    }
    at += n;
  }
  const regions = weights.length;
  const ok = radixSort(okKeys).keys;
  const defect = radixSort(defectKeys, defectRegion);
  const defectSorted = defect.keys, defectRegions = defect.payload!;

  let area = 0, x0 = 0, y0 = 0, proOpen = true;
  let fp = 0, tp = 0, proSum = 0, proCarry = 0, twiceWins = 0, f1Max = 0;
  let i = ok.length - 1, j = defectSorted.length - 1;
  while (i >= 0 || j >= 0) {
    const v = j < 0 || (i >= 0 && ok[i] > defectSorted[j]) ? ok[i] : defectSorted[j];
    let fpRun = 0, tpRun = 0;
    for (; i >= 0 && ok[i] === v; i--) fpRun++;
    while (j >= 0 && defectSorted[j] === v) {
      tpRun++;
      // Neumaier's compensated sum: millions of small terms, no drift.
      const w = weights[defectRegions[j--]];
      const t = proSum + w;
      proCarry += Math.abs(proSum) >= w ? proSum - t + w : w - t + proSum;
      proSum = t;
    }
    fp += fpRun;
    tp += tpRun;
    // Each defect pixel here beats the defect-free pixels below v and ties the fpRun at v.
    twiceWins += tpRun * (2 * (okCount - fp) + fpRun);
    const f1 = (2 * tp) / (tp + fp + defectCount);
    if (f1 > f1Max) f1Max = f1;
    if (!proOpen) continue;
    const x1 = fp / okCount, y1 = Math.min(1, (proSum + proCarry) / regions);
    if (x1 > maxFpr) {
      area += 0.5 * (y0 + y0 + ((y1 - y0) * (maxFpr - x0)) / (x1 - x0)) * (maxFpr - x0);
      proOpen = false;
      continue;
    }
    area += 0.5 * (y0 + y1) * (x1 - x0);
    x0 = x1;
    y0 = y1;
  }
  return { auroc: twiceWins / (2 * okCount * defectCount), aupro: area / maxFpr, f1Max };
}

function _sizes(total: number, opts: AuproOptions): readonly MapSize[] {
  let sizes = opts.sizes;
  if (!sizes) {
    const { width, height } = opts;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width! <= 0 || height! <= 0) {
      throw new ConfigError(`AUPRO needs the maps' sizes, or one positive integer width and height`);
    }
    const per = width! * height!;
    if (total % per !== 0) {
      throw new ShapeError(`Scores hold ${total} values, not a whole number of ${width}×${height} maps`);
    }
    sizes = Array.from({ length: total / per }, () => ({ width: width!, height: height! }));
  }
  let sum = 0;
  for (const s of sizes) sum += s.width * s.height;
  if (sum !== total) throw new ShapeError(`Map sizes account for ${sum} values, the scores hold ${total}`);
  return sizes;
}
