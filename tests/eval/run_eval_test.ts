/**
 * `adp eval` end to end on a small slice of MVTec bottle (6 test images, K = 2, one seed) with a
 * tiny random CLIP: one JSON document on stdout carrying the per-category, per-K figures, the
 * plots and tables written, `--resume` doing no new work, a resume under other settings refused;
 * the calibration inputs it dumps for bench/calibration_lab.ts, which recalibrate to the run's own
 * threshold; and the plain patch-matching baseline with the proxy backbone against the proxy
 * README's figure.
 */
import assert from "node:assert/strict";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeRandomCheckpoint } from "../../src/clip/random_checkpoint.ts";
import { decodeImage } from "../../src/image/decode.ts";
import { runEvaluation } from "../../src/eval/run_eval.ts";
import { calibrateStation } from "../../src/adp/calibration.ts";
import { loadDumps } from "../../bench/calibration_lab.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";

const CLI = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));
const MVTEC = () => sharedPath("datasets/mvtec-ad");

async function withTinyModel(fn: (ctx: { root: string; model: string }) => Promise<void>): Promise<void> {
  await using rootDir = await tempDir("adp-eval-");
  const root = rootDir.path;
  const model = join(root, "model");
  await writeRandomCheckpoint(model, { arch: "tiny", layout: "openclip" });
  await copyFile(
    sharedPath("fixtures/clip-oracle/tokenizer/bpe_simple_vocab_16e6.txt.gz"),
    join(model, "bpe_simple_vocab_16e6.txt.gz"),
  );
  await fn({ root, model });
}

async function adp(
  args: string[],
  root: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLI, ...args],
    env: { ADP_CACHE_DIR: join(root, "cache"), NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

Deno.test({
  name: "adp eval prints one JSON document, writes tables and plots, and --resume does no new work",
  ...needsShared,
  async fn() {
    await withTinyModel(async ({ root, model }) => {
      const out = join(root, "eval");
      const args = [
        "eval",
        ...["--data", MVTEC(), "--categories", "bottle", "--shots", "2", "--seeds", "0", "--model", model],
        ...["--variant", "fused,patch,plain-patch", "--ablation", "--steps", "2", "--limit", "6"],
        ...["--pixel-size", "64", "--out", out, "--json", "--threads", "1"],
      ];
      const first = await adp(args, root);
      assert.equal(first.code, 0, first.stderr);
      const doc = JSON.parse(first.stdout);
      const entry = doc.categories.bottle["2"];
      for (
        const key of [
          "imageAuroc",
          "pixelAuroc",
          "aupro",
          "imageF1Max",
          "pixelF1Max",
          "falseRejectRate",
          "missRate",
        ]
      ) {
        assert.ok(
          typeof entry[key] === "number" && entry[key] >= 0 && entry[key] <= 1,
          `${key}: ${entry[key]}`,
        );
      }
      assert.deepEqual(Object.keys(entry.variants).sort(), [
        "anomaly-concept",
        "fused",
        "normal-concept",
        "patch",
        "plain-patch",
        "text",
        "textual-inversion",
      ]);
      assert.equal(entry.variants.text.pixelAuroc, null, "the text branch has no map");
      assert.equal(entry.variants.patch.pixelAuroc, entry.pixelAuroc, "fused and patch share the patch map");
      assert.equal(typeof doc.overall["2"].imageAuroc, "number");
      assert.deepEqual(doc.runs, { total: 1, executed: 1, resumed: 0 });
      assert.match(
        first.stderr,
        /\[1\/1\] bottle K=2 seed 0: image AUROC \d\.\d{3}, pixel AUROC \d\.\d{3} in /,
      );

      const md = await Deno.readTextFile(join(out, "results.md"));
      assert.match(md, /Table 2 ablation/);
      assert.match(md, /\| bottle \| \d\.\d{3} ± 0\.000 \|/);
      // The sampling bound of the patch branch's ranking, in the document and in the report.
      const [bound, ...others] = doc.samplingBounds;
      assert.equal(others.length, 0);
      assert.equal(bound.category, "bottle");
      assert.equal(bound.bound.perK[0].k, 2);
      assert.ok(bound.bound.gap >= 0 && bound.bound.gap <= 0.5, JSON.stringify(bound));
      assert.ok(bound.bound.falseRejectRate <= 0.05 + 0.0005);
      assert.match(md, /### Sampling bound \(patch branch\)[^]*\| bottle \| 1 \| \d\.\d{3} \|/);
      assert.deepEqual(
        JSON.parse(await Deno.readTextFile(join(out, "results.json"))).categories,
        doc.categories,
      );
      for (const svg of ["bottle-roc.svg", "bottle-scores.svg"]) {
        assert.match(await Deno.readTextFile(join(out, "plots", svg)), /^<svg[^]*<\/svg>\n$/);
      }
      const sheet = await decodeImage(await Deno.readFile(join(out, "plots", "bottle-maps.png")));
      assert.ok(sheet.width > 6 * 100 && sheet.height > 100, `sheet ${sheet.width}×${sheet.height}`);

      const runFile = join(out, "runs", "bottle", "k2-seed0.json");
      const before = (await Deno.stat(runFile)).mtime!.getTime();
      const again = await adp([...args, "--resume"], root);
      assert.equal(again.code, 0, again.stderr);
      const resumed = JSON.parse(again.stdout);
      assert.deepEqual(resumed.runs, { total: 1, executed: 0, resumed: 1 });
      assert.deepEqual(resumed.categories, doc.categories);
      assert.equal((await Deno.stat(runFile)).mtime!.getTime(), before, "the saved run is not rewritten");
      assert.match(again.stderr, /\(resumed\)/);

      const otherSteps = args.map((a, i) => (args[i - 1] === "--steps" ? "3" : a));
      const other = await adp([...otherSteps, "--resume"], root);
      assert.equal(other.code, 3, other.stderr);
      assert.match(other.stderr, /other settings \(steps\)/);
      assert.equal(other.stdout, "");
    });
  },
});

Deno.test({
  name:
    "adp eval's calibration dump carries the shots' edge offsets, and calibrating the dump reproduces the run's threshold",
  ...needsShared,
  async fn() {
    await withTinyModel(async ({ root, model }) => {
      const out = join(root, "eval");
      const res = await adp(
        [
          "eval",
          ...["--data", MVTEC(), "--categories", "bottle", "--shots", "2", "--seeds", "0", "--model", model],
          ...["--backbone", sharedPath("models/proxy/backbone.json"), "--variant", "fused,patch,text"],
          ...["--steps", "2", "--limit", "6", "--pixel-size", "64", "--out", out, "--threads", "1"],
        ],
        root,
        { ADP_EVAL_DUMP_CALIBRATION: "1" },
      );
      assert.equal(res.code, 0, res.stderr);
      const [dump, ...more] = await loadDumps([out]);
      assert.equal(more.length, 0);
      const { distances } = dump;
      assert.equal(distances.edgeOffsets?.length, distances.shots * distances.cells);
      assert.ok(distances.edgeOffsets!.some((x) => x !== 0), "the proxy's 14×14 grid has edge rings");
      const run = JSON.parse(await Deno.readTextFile(join(out, "runs", "bottle", "k2-seed0.json")));
      const again = calibrateStation(
        { distances, normalText: dump.normals.map((s) => s.text), pseudoAnomalies: dump.pseudoAnomalies },
        { seed: dump.seed },
      );
      assert.ok(
        Math.abs(again.threshold - run.threshold) <= 1e-9 * Math.max(1, Math.abs(run.threshold)),
        `${again.threshold} against ${run.threshold}`,
      );
    });
  },
});

Deno.test({
  name:
    "runEvaluation() reproduces the proxy README's plain patch-matching figure on bottle (K = 2, numpy draw)",
  ...needsShared,
  async fn() {
    await using outDir = await tempDir("adp-eval-plain-");
    const out = outDir.path;
    const result = await runEvaluation({
      data: MVTEC(),
      categories: ["bottle"],
      shots: [2],
      seeds: [0],
      variants: ["plain-patch"],
      backbone: sharedPath("models/proxy/backbone.json"),
      labelPrompts: false,
      draw: "numpy",
      pixelSize: 224,
    }, { out, threads: 1 });
    const entry = result.document.categories.bottle["2"];
    // README, K = 2, mean of seeds 0–2: image 0.994, pixel 0.977; seed 0 alone is within ±0.01.
    assert.ok(Math.abs(entry.imageAuroc! - 0.994) <= 0.01, `image AUROC ${entry.imageAuroc}`);
    assert.ok(Math.abs(entry.pixelAuroc! - 0.977) <= 0.01, `pixel AUROC ${entry.pixelAuroc}`);
  },
});
