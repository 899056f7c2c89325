/**
 * One category's test set during an evaluation, and what is computed once for all its runs when
 * the first run that needs it starts: the pixel ground truth, the test images' CLIP embeddings, the
 * baseline's patch features, reusable map buffers.
 *
 * @module
 */
import type { Rgb8Image } from "../image/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import { imageEmbeddings, VISION_BATCH } from "../adp/mod.ts";
import type { FeatureExtractor, PatchFeatures } from "../adp/patch/mod.ts";
import { loadPixelTruth, type PixelTruth } from "./_ground_truth.ts";
import { extractFiles } from "./_plain_patch.ts";
import { type AnomalyDataset, loadImage, type TestSample } from "./datasets.ts";
import type { EvalSettings, MapSource } from "./protocol.ts";

/** One category's test set and the things computed once for all its runs. */
export class CategoryState {
  /** The category. */
  readonly dataset: AnomalyDataset;
  /** The test images evaluated (all, or the limited selection). */
  readonly test: TestSample[];
  /** Their labels, 1 for anomalous. */
  readonly labels: Uint8Array;
  /** The evaluation's settings. */
  readonly settings: EvalSettings;
  /** Whether every defective test image has a mask: pixel metrics are absent otherwise (ELPV). */
  readonly masked: boolean;
  #truth?: Promise<PixelTruth>;
  #embeddings?: Promise<Float64Array>;
  #plainTest?: Promise<PatchFeatures[]>;
  readonly #plainShots = new Map<string, PatchFeatures>();
  #maps = new Map<Exclude<MapSource, null>, Float32Array>();

  /** A category whose shared work is not done yet. */
  constructor(dataset: AnomalyDataset, test: TestSample[], settings: EvalSettings) {
    this.dataset = dataset;
    this.test = test;
    this.settings = settings;
    this.labels = Uint8Array.from(test, (s) => s.label);
    this.masked = test.every((s) => !s.label || s.maskPath !== undefined);
  }

  /** The test images' masks at the evaluation resolution, loaded once. */
  truth(): Promise<PixelTruth> {
    return this.#truth ??= loadPixelTruth(this.test, this.settings.pixelSize);
  }

  /** A reusable buffer for one map source's maps at the evaluation resolution. */
  async maps(source: Exclude<MapSource, null>): Promise<Float32Array> {
    const truth = await this.truth();
    let buffer = this.#maps.get(source);
    if (!buffer) this.#maps.set(source, buffer = new Float32Array(truth.pixels.length));
    return buffer;
  }

  /** The test images' CLIP image embeddings [n, embed], computed once. */
  embeddings(clip: ClipModel): Promise<Float64Array> {
    return this.#embeddings ??= (async () => {
      const e = clip.config.embedDim;
      const out = new Float64Array(this.test.length * e);
      for (let start = 0; start < this.test.length; start += VISION_BATCH) {
        const images: Rgb8Image[] = [];
        for (const s of this.test.slice(start, start + VISION_BATCH)) images.push(await loadImage(s.path));
        out.set(await imageEmbeddings(clip, images), start * e);
      }
      return out;
    })();
  }

  /** The baseline's patch features of the test images, extracted once. */
  plainTest(extractor: FeatureExtractor, onProgress: (f: number) => void): Promise<PatchFeatures[]> {
    return this.#plainTest ??= extractFiles(
      extractor,
      this.test.map((s) => s.path),
      (n) => onProgress(n / this.test.length),
    );
  }

  /** The baseline's patch features of the shots, each shot extracted once. */
  async plainShots(extractor: FeatureExtractor, shots: readonly string[]): Promise<PatchFeatures[]> {
    const missing = shots.filter((p) => !this.#plainShots.has(p));
    if (missing.length) {
      (await extractFiles(extractor, missing)).forEach((f, i) => this.#plainShots.set(missing[i], f));
    }
    return shots.map((p) => this.#plainShots.get(p)!);
  }
}
