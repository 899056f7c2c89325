import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { Image } from "imagescript";
import { synth } from "../../../src/cli/synth.ts";
import { parseCommandArgs, UsageError } from "../../../src/cli/_command.ts";
import { decodeImage } from "../../../src/image/decode.ts";
import { tempDir } from "../../_temp_dir.ts";

async function writeTestPng(path: string, width: number, height: number, phase: number): Promise<void> {
  const img = new Image(width, height);
  for (let p = 0; p < width * height; p++) {
    const v = 110 + 40 * Math.sin(p * 0.02 + phase);
    img.bitmap.set([v, v + 10, v - 10, 255], p * 4);
  }
  await Deno.writeFile(path, await img.encode());
}

async function runSynth(argv: string[]): Promise<void> {
  const args = parseCommandArgs(synth, argv);
  if (!args) throw new Error("help was printed instead");
  const log = console.log;
  console.log = () => {};
  try {
    await synth.run(args);
  } finally {
    console.log = log;
  }
}

Deno.test("synth.run() writes each pseudo-anomaly, its mask and a contact sheet", async () => {
  await using tmp = await tempDir("adp-synth-");
  const dir = tmp.path;
  await writeTestPng(join(dir, "a.png"), 120, 100, 0);
  await writeTestPng(join(dir, "b.png"), 100, 120, 2);
  const out = join(dir, "out");
  await runSynth([
    "--in",
    join(dir, "a.png"),
    "--in",
    join(dir, "b.png"),
    "--out",
    out,
    "--count",
    "5",
    "--seed",
    "4",
    "--kinds",
    "scar,stain",
    "--size",
    "64",
  ]);
  const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  const review = [...Deno.readDirSync(join(out, "review"))].map((e) => e.name).sort();
  strictEqual(files.length, 5 + 1, files.join(", ")); // the five and review/
  strictEqual(review.length, 5 + 1);
  ok(review.includes("sheet.png"));
  for (let i = 0; i < 5; i++) {
    const image = files.find((f) => new RegExp(`^${i}-(scar|stain)\\.png$`).test(f));
    ok(image, `no image for anomaly ${i} in ${files.join(", ")}`);
    ok(review.includes(image.replace(".png", "-mask.png")), `no mask for ${image}`);
    const decoded = await decodeImage(await Deno.readFile(join(out, image)));
    deepStrictEqual([decoded.width, decoded.height], [64, 64]);
    const mask = await decodeImage(
      await Deno.readFile(join(out, "review", image.replace(".png", "-mask.png"))),
    );
    ok(mask.data.some((v) => v === 255) && mask.data.every((v) => v === 0 || v === 255));
  }
  const sheet = await decodeImage(await Deno.readFile(join(out, "review", "sheet.png")));
  ok(sheet.width > 224 && sheet.height > 224);
});

Deno.test("synth.run() refuses an unknown kind and a missing --in", async () => {
  await rejects(runSynth(["--in", "x.png", "--out", "o", "--kinds", "dent"]), UsageError);
  await rejects(runSynth(["--out", "o"]), UsageError);
});
