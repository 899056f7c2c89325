/**
 * CLIP as ONNX graphs built from a checkpoint's weights: the vision tower (with the tokens of
 * chosen blocks as named outputs), the text tower (whose placeholder token's embedding is an input,
 * so learned concepts are injected), and the text tower's vector–Jacobian product for textual
 * inversion. {@linkcode loadClip} builds them once per checkpoint, caches them, and opens the
 * sessions behind a {@linkcode ClipModel}.
 *
 * @example Image–text logits with a small random checkpoint
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { writeRandomCheckpoint } from "../clip/mod.ts";
 * import { loadClip } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomCheckpoint(dir, { arch: "tiny", layout: "openclip", seed: 3 });
 * const clip = await loadClip(dir, { device: "cpu", cacheDir: `${dir}/graphs`, log: () => {} });
 * const pixels = new Float32Array(3 * 96 * 96);
 * const image = await clip.encodeImage(pixels, 1);
 * strictEqual(image.length, clip.config.embedDim);
 * await clip.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
export { ClipModel, loadClip } from "./clip_model.ts";
export type { LoadClipOptions, VisionOutputs } from "./clip_model.ts";
export { cachedGraphPath, defaultCacheDir, isCached, storeGraph } from "./graph_cache.ts";
export { buildTextConditioningGraph } from "./text_tower.ts";
export { defaultPrecision, parsePrecision, PRECISIONS } from "./precision.ts";
export type { Precision } from "./precision.ts";
