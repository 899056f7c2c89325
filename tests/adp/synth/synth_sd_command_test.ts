/**
 * `adp synth --sd` through the command line as outside checks run it: on the tiny random Stable
 * Diffusion written by `adp models tiny --arch sd-tiny`, and on a missing folder (one line, then the
 * procedural synthesizer).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Image } from "imagescript";
import { decodeImage } from "../../../src/image/mod.ts";
import { runCli } from "../../_cli.ts";
import { tempDir } from "../../_temp_dir.ts";

async function writeShot(path: string): Promise<void> {
  // A dark part on a light backdrop, 72×56: not square, not a multiple of 8.
  const img = new Image(72, 56);
  for (let y = 0; y < 56; y++) {
    for (let x = 0; x < 72; x++) {
      const part = x > 18 && x < 54 && y > 12 && y < 44;
      const v = part ? 70 + ((x * 7 + y * 3) % 30) : 235;
      img.bitmap.set([v, v, v + 5, 255], (y * 72 + x) * 4);
    }
  }
  await Deno.writeFile(path, await img.encode());
}

async function pngs(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) => n.endsWith(".png"))
    .sort();
}

Deno.test("adp synth --sd writes N pseudo-anomalies of the image's size, the same for a seed", async () => {
  await using tmp = await tempDir("adp-synth-sd-");
  const model = join(tmp.path, "sd");
  const made = await runCli(["models", "tiny", "--arch", "sd-tiny", "--out", model]);
  assert.equal(made.code, 0, made.err);
  const shot = join(tmp.path, "shot.png");
  await writeShot(shot);
  const run = (out: string, seed: string) =>
    runCli([
      "synth",
      "--sd",
      model,
      "--in",
      shot,
      "--out",
      out,
      "--count",
      "3",
      "--seed",
      seed,
      "--strength",
      "0.5",
      "--steps",
      "4",
      "--guidance",
      "2",
      "--sd-size",
      "32",
    ]);
  const first = await run(join(tmp.path, "a"), "4");
  assert.equal(first.code, 0, first.err);
  assert.deepEqual(await pngs(join(tmp.path, "a")), ["0-sd.png", "1-sd.png", "2-sd.png"]);
  assert.deepEqual(await pngs(join(tmp.path, "a", "review")), [
    "0-sd-mask.png",
    "1-sd-mask.png",
    "2-sd-mask.png",
    "sheet.png",
  ]);
  for (const i of [0, 1, 2]) {
    const image = await decodeImage(await Deno.readFile(join(tmp.path, "a", `${i}-sd.png`)));
    assert.deepEqual([image.width, image.height], [72, 56]);
  }
  assert.doesNotMatch(first.err, /procedural/);
  const again = await run(join(tmp.path, "b"), "4");
  assert.equal(again.code, 0, again.err);
  // The pixels, not the files: the PNG encoder stamps each file with its creation time.
  const pixels = async (path: string) => (await decodeImage(await Deno.readFile(path))).data;
  for (const name of await pngs(join(tmp.path, "a"))) {
    assert.deepEqual(
      await pixels(join(tmp.path, "b", name)),
      await pixels(join(tmp.path, "a", name)),
      `${name} is the same for the same seed`,
    );
  }
});

Deno.test("adp synth --sd falls back to procedural pseudo-anomalies with exactly one line", async () => {
  await using tmp = await tempDir("adp-synth-sd-");
  const shot = join(tmp.path, "shot.png");
  await writeShot(shot);
  const out = join(tmp.path, "out");
  const run = await runCli([
    "synth",
    "--sd",
    join(tmp.path, "no-such-model"),
    "--in",
    shot,
    "--out",
    out,
    "--count",
    "2",
  ]);
  assert.equal(run.code, 0, run.err);
  const lines = run.err.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, run.err);
  assert.match(
    lines[0],
    /no usable Stable Diffusion in .*no-such-model.*procedural pseudo-anomalies instead/,
  );
  const files = await pngs(out);
  assert.equal(files.length, 2);
  assert.ok(files.every((f) => !f.includes("-sd")), files.join(", "));
  const image = await decodeImage(await Deno.readFile(join(out, files[1])));
  assert.deepEqual([image.width, image.height], [72, 56], "the image's own size, as with a model");
});
