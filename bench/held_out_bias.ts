/**
 * Does calibration predict what unseen good parts score? Its premise (bench/CALIBRATION.md): each
 * shot held out of the memory, its score carried along the memory curve from K − 1 shots to K,
 * scores like a good part the station has never seen. This draws K shots from a dev set's training
 * goods many times and compares, per draw, the product's predictions (`unseenGoods` on the held-out
 * distances enrollment measures, edge offsets included) with the scores the other training goods
 * (good parts the shots never saw) get against the K-shot memory, in mean log score and its spread.
 * A bias that holds over many draws is the method's; a difference on a few draws is those draws'
 * luck. The test split's goods, scored against the same memory, say how far the split the tables
 * are measured on differs from the training goods the shots are drawn from: a shift no
 * calibration from the shots can see.
 *
 * ```
 * deno run -A bench/held_out_bias.ts [--dataset tile] [--k 16] [--draws 10] [--threads 2] [--draw numpy]
 * ```
 *
 * `--draw numpy` draws the shots as `adp eval --draw numpy` does (seed = draw number), so the first
 * three draws are the tables' seeds 0–2.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { unseenGoods } from "../src/adp/calibration.ts";
import { readMvtecDataset } from "../src/eval/datasets.ts";
import { type Draw, DRAWS, drawShots } from "../src/eval/mod.ts";
import { meanStd } from "../src/eval/summary.ts";
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
      draw: { type: "string", default: "adp" },
    },
  });
  const name = values.dataset!, k = Number(values.k), draws = Number(values.draws);
  if (!DATASETS[name]) throw new Error(`Unknown dataset ${name}: choose ${Object.keys(DATASETS).join(", ")}`);
  const dataset = await readMvtecDataset(DATASETS[name]);
  if (!(Number.isInteger(k) && k >= 2 && k < dataset.train.length)) {
    throw new Error(`--k must be an integer from 2 to ${dataset.train.length - 1}: got ${values.k}`);
  }
  const draw = values.draw as Draw;
  if (!DRAWS.includes(draw)) throw new Error(`--draw must be one of ${DRAWS.join(", ")}: got ${values.draw}`);
  const views = FINAL.testViews!;
  const threads = Number(values.threads);
  const testGoods = dataset.test.filter((t) => t.label === 0).map((t) => t.path);
  const extractor = await openVariantExtractor(FINAL, threads);
  const features = new Map<string, Awaited<ReturnType<typeof extractAll>>>();
  try {
    for (const path of [...dataset.train, ...testGoods]) {
      features.set(path, await extractAll(extractor, [path], views));
    }
  } finally {
    await extractor.dispose();
  }
  const rows: Record<Group, LogSummary>[] = [];
  console.log(
    `${name}, K = ${k}: per draw, mean log score (spread) of the predictions, of the training goods the ` +
      `shots never saw, and of the test split's goods`,
  );
  for (let seed = 0; seed < draws; seed++) {
    const shots = drawShots(dataset.train, { k, seed, draw });
    const shotViews = shots.map((p) => features.get(p)!);
    const { excess, distances } = await measureShots(shotViews, FINAL, views);
    const memory = await openMemory(shotViews, FINAL, threads, excess);
    const scoreAll = async (paths: string[]) =>
      (await memory.scoreViews(paths.flatMap((p) => features.get(p)!), views)).map((s) => s.imageScores[0]);
    const unseen = dataset.train.filter((p) => !shots.includes(p));
    const row = {
      predicted: logSummary(unseenGoods(distances).scores),
      unseen: logSummary(await scoreAll(unseen)),
      test: logSummary(await scoreAll(testGoods)),
    };
    await memory.dispose();
    rows.push(row);
    const cell = (g: Group) => `${row[g].mean.toFixed(3)} (${row[g].spread.toFixed(3)})`;
    console.log(`  draw ${seed}: ${cell("predicted")}, ${cell("unseen")}, ${cell("test")}`);
  }
  const difference = (a: Group, b: Group) => meanAndError(rows.map((r) => r[a].mean - r[b].mean));
  const spread = (g: Group) => (rows.reduce((a, r) => a + r[g].spread, 0) / draws).toFixed(3);
  console.log(`  predicted − unseen training goods: ${difference("predicted", "unseen")}`);
  console.log(`  test goods − unseen training goods: ${difference("test", "unseen")}`);
  console.log(
    `  mean log spread: predicted ${spread("predicted")}, unseen training goods ${spread("unseen")}, ` +
      `test goods ${spread("test")}`,
  );
}

type Group = "predicted" | "unseen" | "test";

interface LogSummary {
  mean: number;
  spread: number;
}

function logSummary(scores: readonly number[]): LogSummary {
  const { mean, std } = meanStd(scores.map(Math.log));
  return { mean: mean!, spread: std! };
}

/** "mean ± standard error" over draws. */
function meanAndError(xs: readonly number[]): string {
  const { mean, std } = meanStd(xs), se = std! / Math.sqrt(xs.length);
  return `${mean! >= 0 ? "+" : ""}${mean!.toFixed(3)} ± ${
    se.toFixed(3)
  } (standard error over ${xs.length} draws)`;
}

if (import.meta.main) await main();
