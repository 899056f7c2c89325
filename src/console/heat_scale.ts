/**
 * The fixed colour scale of a station's heat maps, calibrated to its threshold. Map cells are
 * patch distances; standardised as the patch branch's score is (`(d − mean) / std`, the profile's
 * fusion statistics) they share the threshold's units, so one scale serves every frame of the
 * station: 0 (a typical good part) is transparent blue, the threshold sits at a fixed point of the
 * palette, and anything at twice the threshold or more is full red. A mild spot on a good part
 * stays cool; it is no longer stretched to red as a per-map normalisation would.
 *
 * @module
 */

/** What the scale needs of a profile's metadata (`adp.svc.profiles.get`'s `meta`). */
export interface HeatScaleSource {
  /** The profile version. */
  version: number;
  /** The threshold, in standardised units. */
  threshold: number;
  /** The patch branch's standardisation. */
  fusion: { patchMean: number; patchStd: number };
}

/** How map values of one station become colours. */
export interface HeatScale {
  /** Patch distance of a typical good part (the profile's patch mean). */
  patchMean: number;
  /** Spread of good parts' patch scores (the profile's patch std). */
  patchStd: number;
  /** The threshold, in standardised units. */
  threshold: number;
  /** The standardised value drawn full red (twice the threshold). */
  top: number;
  /** The profile version the scale comes from. */
  profileVersion: number;
}

/**
 * The scale of a profile.
 *
 * @param meta the station's profile metadata
 * @returns the scale
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const scale = heatScaleOf({ version: 2, threshold: 3, fusion: { patchMean: 0.2, patchStd: 0.01 } });
 * strictEqual(scale.top, 6);
 * ```
 */
export function heatScaleOf(meta: HeatScaleSource): HeatScale {
  const threshold = meta.threshold;
  return {
    patchMean: meta.fusion.patchMean,
    patchStd: meta.fusion.patchStd,
    threshold,
    top: Math.max(1, 2 * threshold),
    profileVersion: meta.version,
  };
}
