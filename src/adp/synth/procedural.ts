/**
 * The default pseudo-anomaly synthesizer: procedural defects in place of the paper's SDEdit with
 * Stable Diffusion, whose weights this product does not ship. One painter per defect kind; this
 * file only chooses a kind, keeps it on the object, composites it and makes sure it shows.
 *
 * @module
 */
import { ConfigError } from "../../errors.ts";
import type { Random } from "../../random.ts";
import type { Rgb8Image } from "../../image/mod.ts";
import type { PseudoAnomaly, Synthesizer } from "./pseudo_anomaly.ts";
import { estimateForeground } from "./foreground.ts";
import { type DefectContext, type DefectLayer, type DefectPainter, luma } from "./_layer.ts";
import { paintScar } from "./scar.ts";
import { paintPerlinBlend } from "./perlin_blend.ts";
import { paintScratch } from "./scratch.ts";
import { paintStain } from "./stain.ts";
import { paintSpot } from "./spot.ts";

/** The procedural defect kinds, in the order the CLI lists them. */
export const DEFECT_KINDS = ["scar", "perlin", "scratch", "stain", "spot"] as const;

/** One of {@linkcode DEFECT_KINDS}. */
export type DefectKind = typeof DEFECT_KINDS[number];

const PAINTERS: Record<DefectKind, DefectPainter> = {
  scar: paintScar,
  perlin: paintPerlinBlend,
  scratch: paintScratch,
  stain: paintStain,
  spot: paintSpot,
};

/** Options for {@linkcode createProceduralSynthesizer}. */
export interface ProceduralOptions {
  /**
   * The kinds to draw from, uniformly.
   * @default {DEFECT_KINDS}
   */
  kinds?: readonly DefectKind[];
  /**
   * Where defects go: `"object"` keeps them on the part when the image shows it on a uniform
   * backdrop (on a bottle photographed against white, a third of uniformly placed defects would
   * otherwise sit partly or wholly on the backdrop); `"anywhere"` ignores the backdrop.
   * @default {"object"}
   */
  placement?: "object" | "anywhere";
}

/** Smallest share of the image a defect must cover: below it a 224 px crop barely shows it. */
const MIN_AREA = 0.001;
/** Largest share: a defect over a third of the part is a different part. */
const MAX_AREA = 0.3;
/** Smallest mean change inside the mask, in 0–255 levels per channel, for a defect to count as visible. */
const MIN_CONTRAST = 12;
/** Opacities below this are dropped, so that no imperceptible fringe widens the mask. */
const MIN_ALPHA = 0.03;
/** Draws per defect before the most visible one so far is kept. */
const ATTEMPTS = 8;

/**
 * Creates the procedural synthesizer: each call draws a kind, paints it on the object, and
 * redraws (up to eight times) a defect that came out too small, too large or too faint.
 *
 * @param opts the kinds to use and where to put them
 * @returns a {@linkcode Synthesizer} named `procedural`
 * @throws {ConfigError} when `kinds` is empty or names an unknown kind
 *
 * @example Synthesize a stain
 * ```ts
 * import { ok, strictEqual } from "node:assert/strict";
 * import { Random } from "../../random.ts";
 * const data = new Uint8Array(96 * 96 * 3).map((_, i) => 100 + (i % 7));
 * const synth = createProceduralSynthesizer({ kinds: ["stain"] });
 * const out = synth.synthesize({ width: 96, height: 96, data }, new Random(3));
 * strictEqual(out.kind, "stain");
 * ok(out.mask.some((m) => m === 255));
 * ```
 */
export function createProceduralSynthesizer(opts: ProceduralOptions = {}): Synthesizer {
  const kinds = [...(opts.kinds ?? DEFECT_KINDS)];
  if (!kinds.length) throw new ConfigError("Synthesizer needs at least one defect kind: got none");
  for (const k of kinds) {
    if (!(DEFECT_KINDS as readonly string[]).includes(k)) {
      throw new ConfigError(`Defect kind is unknown: ${k} (known: ${DEFECT_KINDS.join(", ")})`);
    }
  }
  const placement = opts.placement ?? "object";
  if (placement !== "object" && placement !== "anywhere") {
    throw new ConfigError(`Placement must be "object" or "anywhere": got ${placement}`);
  }
  // Normals are synthesized from many times over; what is learnt about an image is kept with it.
  const analyses = new WeakMap<Rgb8Image, Analysis>();
  return {
    name: "procedural",
    synthesize(normal: Rgb8Image, random: Random): PseudoAnomaly {
      let analysis = analyses.get(normal);
      if (!analysis) {
        analysis = analyse(normal, placement);
        analyses.set(normal, analysis);
      }
      const kind = random.pick(kinds);
      return paintVisible(normal, analysis, kind, random);
    },
  };
}

interface Analysis {
  foreground: Uint8Array | undefined;
  grey: boolean;
}

function analyse(image: Rgb8Image, placement: "object" | "anywhere"): Analysis {
  const { data } = image;
  let grey = true;
  for (let i = 0; i < data.length && grey; i += 3) grey = data[i] === data[i + 1] && data[i] === data[i + 2];
  return { foreground: placement === "object" ? estimateForeground(image) : undefined, grey };
}

function paintVisible(
  normal: Rgb8Image,
  analysis: Analysis,
  kind: DefectKind,
  random: Random,
): PseudoAnomaly {
  const { width, height } = normal;
  const { foreground } = analysis;
  const ctx: DefectContext = {
    image: normal,
    scale: Math.min(width, height),
    grey: analysis.grey,
    pointOnObject(r: Random) {
      if (foreground) {
        for (let i = 0; i < 64; i++) {
          const x = r.int(0, width - 1), y = r.int(0, height - 1);
          if (foreground[y * width + x] >= 128) return { x, y };
        }
      }
      return { x: r.int(0, width - 1), y: r.int(0, height - 1) };
    },
    onObject(x: number, y: number) {
      if (x < 0 || y < 0 || x >= width || y >= height) return false;
      return !foreground || foreground[y * width + x] >= 128;
    },
  };
  const area = width * height;
  let best: { result: PseudoAnomaly; score: number } | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const layer = PAINTERS[kind](ctx, random);
    const { image, mask, covered, change } = composite(normal, layer, foreground, analysis.grey);
    const contrast = covered ? change / (covered * 3) : 0;
    const result = { image, mask, kind };
    if (covered >= MIN_AREA * area && covered <= MAX_AREA * area && contrast >= MIN_CONTRAST) return result;
    // Otherwise keep the draw that misses the bounds least: area first, then contrast.
    const share = covered / area;
    const score = (share < MIN_AREA ? share / MIN_AREA : share > MAX_AREA ? MAX_AREA / share : 1) +
      Math.min(contrast / MIN_CONTRAST, 1);
    if (!best || score > best.score) best = { result, score };
  }
  return best!.result;
}

/** Blends a layer into a copy of the image; the mask is exactly the pixels given an opacity. */
function composite(
  normal: Rgb8Image,
  layer: DefectLayer,
  foreground: Uint8Array | undefined,
  grey: boolean,
): { image: Rgb8Image; mask: Uint8Array; covered: number; change: number } {
  const { width, height } = normal;
  const data = normal.data.slice();
  const mask = new Uint8Array(width * height);
  let covered = 0, change = 0;
  for (let y = 0; y < layer.height; y++) {
    for (let x = 0; x < layer.width; x++) {
      const i = y * layer.width + x;
      const p = (layer.top + y) * width + layer.left + x;
      let a = Math.min(layer.alpha[i], 1);
      if (foreground) a *= foreground[p] / 255;
      if (!(a >= MIN_ALPHA)) continue;
      let r = layer.color[i * 3], g = layer.color[i * 3 + 1], b = layer.color[i * 3 + 2];
      if (grey) r = g = b = luma(r, g, b);
      const target = [r, g, b];
      for (let k = 0; k < 3; k++) {
        const before = data[p * 3 + k];
        const after = Math.min(Math.max(Math.round(before + a * (target[k] - before)), 0), 255);
        data[p * 3 + k] = after;
        change += Math.abs(after - before);
      }
      mask[p] = 255;
      covered++;
    }
  }
  return { image: { width, height, data }, mask, covered, change };
}
