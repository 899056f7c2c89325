/**
 * Does calibration predict what unseen good parts score? Its premise (bench/CALIBRATION.md): each
 * shot held out of the memory, its score carried along the memory curve from K − 1 shots to K,
 * scores like a good part the station has never seen. This draws K shots from a dev set's training
 * goods many times and compares, per draw, the product's predictions (`unseenGoods` on the held-out
 * distances enrollment measures, edge offsets included) with the scores the other training goods
 * (good parts the shots never saw) get against the K-shot memory, in mean log score. A bias that
 * holds over many draws is the method's; a difference on a few draws is those draws' luck.
 *
 * ```
 * deno run -A bench/held_out_bias.ts [--dataset tile] [--k 16] [--draws 10] [--threads 2]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { unseenGoods } from "../src/adp/calibration.ts";
import { readMvtecDataset, sampleShots } from "../src/eval/datasets.ts";
import {
  DATASETS,
  extractAll,
  FINAL,
  measureShots,
  openMemory,
  openVariantExtractor,
} from "./patch_quality.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dataset: { type: "string", default: "tile" },
      k: { type: "string", default: "16" },
      draws: { type: "string", default: "10" },
      threads: { type: "string", default: "2" },
    },
  });
  const name = values.dataset!, k = Number(values.k), draws = Number(values.draws);
  if (!DATASETS[name]) throw new Error(`Unknown dataset ${name}: choose ${Object.keys(DATASETS).join(", ")}`);
  const dataset = await readMvtecDataset(DATASETS[name]);
  if (!(Number.isInteger(k) && k >= 2 && k < dataset.train.length)) {
    throw new Error(`--k must be an integer from 2 to ${dataset.train.length - 1}: got ${values.k}`);
  }
  const views = FINAL.testViews!;
  const threads = Number(values.threads);
  const extractor = await openVariantExtractor(FINAL, threads);
  const features = new Map<string, Awaited<ReturnType<typeof extractAll>>>();
  try {
    for (const path of dataset.train) features.set(path, await extractAll(extractor, [path], views));
  } finally {
    await extractor.dispose();
  }
  const meanLog = (xs: ArrayLike<number>) => Array.from(xs, Math.log).reduce((a, b) => a + b, 0) / xs.length;
  const biases: number[] = [];
  console.log(`${name}, K = ${k}: mean log score per draw (predicted − unseen training goods)`);
  for (let seed = 0; seed < draws; seed++) {
    const shots = sampleShots(dataset.train, { k, seed });
    const shotViews = shots.map((p) => features.get(p)!);
    const { excess, distances } = await measureShots(shotViews, FINAL, views);
    const predicted = unseenGoods(distances).scores;
    const memory = await openMemory(shotViews, FINAL, threads, excess);
    const unseen = dataset.train.filter((p) => !shots.includes(p));
    const scores = await memory.scoreViews(unseen.flatMap((p) => features.get(p)!), views);
    await memory.dispose();
    const bias = meanLog(predicted) - meanLog(scores.map((s) => s.imageScores[0]));
    biases.push(bias);
    console.log(
      `  draw ${seed}: ${bias >= 0 ? "+" : ""}${bias.toFixed(3)} (${k} shots, ${unseen.length} unseen)`,
    );
  }
  const mean = biases.reduce((a, b) => a + b, 0) / draws;
  const se = Math.sqrt(biases.reduce((a, b) => a + (b - mean) ** 2, 0) / (draws - 1) / draws);
  console.log(
    `  mean ${mean >= 0 ? "+" : ""}${mean.toFixed(3)} ± ${
      se.toFixed(3)
    } (standard error over ${draws} draws)`,
  );
}

if (import.meta.main) await main();
