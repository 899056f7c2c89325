/**
 * What a region of interest does to a station's verdicts, on MVTec bottle with the proxy backbone
 * (K = 4 shots, `train/good` 000–003): false rejects of `test/good` and defects caught, without a
 * region and with an ignore polygon over the frame's top-left corner (where the bottle is not),
 * reaching 0–160 pixels beyond the square painted there (the backbone sees past a patch's cell);
 * every test frame also once with a red square painted in that corner; scoring time per frame.
 *
 * ```
 * deno run -A bench/roi_check.ts
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { createScorer, enroll, type FrameScore, type StationProfile } from "../src/adp/mod.ts";
import { decodeImage, type Rgb8Image } from "../src/image/mod.ts";
import { loadClip } from "../src/model/mod.ts";

const SHARED = new URL("../../shared/", import.meta.url).pathname;
const BOTTLE = join(SHARED, "datasets/mvtec-ad/bottle");
const CORNER = { x0: 100, y0: 100, x1: 300, y1: 300 };
/** How far beyond the painted square the ignore polygon reaches, in frame pixels. */
const MARGINS = [0, 40, 100, 160];

const clip = await loadClip(join(SHARED, "fixtures/clip-oracle/tiny-gelu-hf"), {
  device: "cpu",
  vocab: join(SHARED, "fixtures/clip-oracle/tokenizer"),
  log: () => {},
});
const read = (path: string) => Deno.readFile(path);
const shots = await Promise.all(
  ["000", "001", "002", "003"].map((n) => read(`${BOTTLE}/train/good/${n}.png`)),
);
const profile = await enroll(clip, shots, {
  steps: 2,
  seed: 0,
  backbone: join(SHARED, "models/proxy/backbone.json"),
});
const frames: { kind: string; image: Rgb8Image }[] = [];
for (const kind of [...Deno.readDirSync(`${BOTTLE}/test`)].map((e) => e.name).sort()) {
  for (const f of [...Deno.readDirSync(`${BOTTLE}/test/${kind}`)].map((e) => e.name).sort()) {
    frames.push({ kind, image: await decodeImage(await read(`${BOTTLE}/test/${kind}/${f}`)) });
  }
}
const painted = frames.map((f) => ({ kind: f.kind, image: paint(f.image) }));
/** The corner's square grown by `margin` pixels on each side, as an ignore polygon. */
function ignoring(margin: number): StationProfile {
  const { x0, y0, x1, y1 } = CORNER;
  const square: [number, number][] = [
    [x0 - margin, y0 - margin],
    [x1 + margin, y0 - margin],
    [x1 + margin, y1 + margin],
    [x0 - margin, y1 + margin],
  ];
  return { ...profile, meta: { ...structuredClone(profile.meta), roi: { ignore: [square] } } };
}

console.log(
  `bottle, proxy backbone, K = 4: ${frames.length} test frames; threshold ${
    profile.meta.threshold.toFixed(3)
  }`,
);
console.log("region       frames    good rejected  defects caught  ms/frame");
const regions: [string, StationProfile][] = [["none", profile]];
for (const margin of MARGINS) regions.push([`ignore+${margin}`, ignoring(margin)]);
for (const [name, p] of regions) {
  for (const [set, list] of [["as-is", frames], ["painted", painted]] as const) {
    const scorer = createScorer(clip, p);
    await scorer.scoreRgb([list[0].image]); // opens the extractor and memory
    const started = performance.now();
    const scores: FrameScore[] = [];
    for (let i = 0; i < list.length; i += 8) {
      scores.push(...await scorer.scoreRgb(list.slice(i, i + 8).map((f) => f.image)));
    }
    const ms = (performance.now() - started) / list.length;
    await scorer.dispose();
    const good = list.map((f, i) => ({ f, s: scores[i] })).filter((x) => x.f.kind === "good");
    const bad = list.map((f, i) => ({ f, s: scores[i] })).filter((x) => x.f.kind !== "good");
    const rejected = good.filter((x) => x.s.anomalous).length,
      caught = bad.filter((x) => x.s.anomalous).length;
    console.log(
      `${name.padEnd(11)}  ${set.padEnd(8)}  ${`${rejected}/${good.length}`.padStart(13)}  ${
        `${caught}/${bad.length}`.padStart(14)
      }  ${ms.toFixed(0).padStart(8)}`,
    );
  }
}
await clip.dispose();

/** `image` with a red square painted over CORNER. */
function paint(image: Rgb8Image): Rgb8Image {
  const data = image.data.slice();
  for (let y = CORNER.y0; y < CORNER.y1; y++) {
    for (let x = CORNER.x0; x < CORNER.x1; x++) data.set([230, 20, 20], (y * image.width + x) * 3);
  }
  return { ...image, data };
}
