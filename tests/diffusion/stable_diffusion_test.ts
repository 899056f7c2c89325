/**
 * The tiny random Stable Diffusion folder, written and loaded on the CPU: every part runs with the
 * shapes of SD's exports, the weights follow the seed, the conditioning reaches the UNet, and a
 * broken folder fails with an error the synthesizer can fall back on.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  loadStableDiffusion,
  SD_LAYOUT,
  type StableDiffusion,
  writeTinyStableDiffusion,
} from "../../src/diffusion/mod.ts";
import { ErrorCode, WeightsError } from "../../src/errors.ts";
import { tempDir } from "../_temp_dir.ts";
import { maxAbsDiff } from "../_numeric.ts";
import { runCli } from "../_cli.ts";

const PROMPT = "a photo of a damaged sks";

async function withTiny(
  seed: number,
  fn: (sd: StableDiffusion, dir: string) => Promise<void>,
): Promise<void> {
  await using tmp = await tempDir("adp-sd-");
  await writeTinyStableDiffusion(tmp.path, { seed });
  const sd = await loadStableDiffusion(tmp.path, {
    device: "cpu",
    cacheDir: join(tmp.path, "cache"),
    log: () => {},
  });
  try {
    await fn(sd, tmp.path);
  } finally {
    await sd.release();
  }
}

/** A deterministic image in [-1, 1], [n, 3, size, size]. */
function testImage(n: number, size: number): Float32Array {
  return Float32Array.from({ length: n * 3 * size * size }, (_, i) => Math.sin(i * 0.37));
}

/** Everything one seed's model computes on fixed inputs. */
async function outputsOf(sd: StableDiffusion): Promise<Float32Array[]> {
  const cond = await sd.conditioning([PROMPT]);
  const latents = await sd.encode(testImage(1, 32), [1, 3, 32, 32]);
  return [
    cond,
    latents,
    await sd.predict(latents, [1, 4, 4, 4], 801, cond),
    await sd.decode(latents, [1, 4, 4, 4]),
  ];
}

Deno.test("the tiny SD folder has the layout and config of SD 2.1's", async () => {
  await using tmp = await tempDir("adp-sd-");
  const tiny = await writeTinyStableDiffusion(tmp.path, { seed: 0 });
  for (const part of Object.values(SD_LAYOUT)) {
    assert.ok(tiny.files.some((f) => f === part || f.startsWith(`${part}/`)), `${part} is written`);
  }
  const s = tiny.config.scheduler;
  assert.deepEqual(
    [s.numTrainTimesteps, s.betaStart, s.betaEnd, s.betaSchedule, s.predictionType, s.stepsOffset],
    [1000, 0.00085, 0.012, "scaled_linear", "v_prediction", 1],
  );
  assert.deepEqual([s.setAlphaToOne, s.clipSample, s.timestepSpacing], [false, false, "leading"]);
  assert.equal(tiny.config.scalingFactor, 0.18215);
});

Deno.test("every part of the tiny SD runs with the shapes of SD's exports", async () => {
  await withTiny(1, async (sd) => {
    const { contextLength, hiddenSize, latentChannels } = sd.config;
    assert.deepEqual([contextLength, hiddenSize, latentChannels], [77, 128, 4]);
    assert.equal(sd.precision, "fp32");
    assert.equal(sd.provider, "cpu");
    const cond = await sd.conditioning([PROMPT, "a photo of the object"]);
    assert.equal(cond.length, 2 * 77 * 128);
    const latents = await sd.encode(testImage(2, 48), [2, 3, 48, 48]);
    assert.equal(latents.length, 2 * 4 * 6 * 6);
    const v = await sd.predict(latents, [2, 4, 6, 6], 981, cond);
    assert.equal(v.length, latents.length);
    assert.ok(v.every(Number.isFinite));
    const images = await sd.decode(latents, [2, 4, 6, 6]);
    assert.equal(images.length, 2 * 3 * 48 * 48);
    assert.ok(images.every(Number.isFinite));
  });
});

Deno.test("the tiny SD's outputs depend on the seed and only on it", async () => {
  let first: Float32Array[] = [], again: Float32Array[] = [], other: Float32Array[] = [];
  await withTiny(5, async (sd) => void (first = await outputsOf(sd)));
  await withTiny(5, async (sd) => void (again = await outputsOf(sd)));
  await withTiny(6, async (sd) => void (other = await outputsOf(sd)));
  first.forEach((out, i) => {
    assert.deepEqual(again[i], out, `output ${i} is reproduced by the same seed`);
    assert.ok(maxAbsDiff(other[i], out) > 1e-3, `output ${i} changes with the seed`);
  });
});

Deno.test("the conditioning, and a concept injected into it, change the UNet's prediction", async () => {
  await withTiny(2, async (sd) => {
    const width = sd.config.hiddenSize;
    const plain = await sd.conditioning([PROMPT]);
    const conceptA = Float32Array.from({ length: width }, (_, i) => Math.cos(i));
    const conceptB = Float32Array.from({ length: width }, (_, i) => Math.sin(3 * i));
    const personalA = await sd.conditioning([PROMPT], { placeholder: "sks", concept: conceptA });
    const personalB = await sd.conditioning([PROMPT], { placeholder: "sks", concept: conceptB });
    // Causal attention: positions before the placeholder (start, "a", "photo", "of", "a", "damaged") are untouched.
    const before = 6 * width;
    assert.deepEqual(personalA.subarray(0, before), plain.subarray(0, before));
    assert.ok(maxAbsDiff(personalA, plain) > 1e-2);
    const latents = await sd.encode(testImage(1, 32), [1, 3, 32, 32]);
    const predictions = await Promise.all(
      [plain, personalA, personalB].map((c) => sd.predict(latents, [1, 4, 4, 4], 501, c)),
    );
    assert.ok(maxAbsDiff(predictions[0], predictions[1]) > 1e-3);
    assert.ok(maxAbsDiff(predictions[1], predictions[2]) > 1e-3);
    const [atLow, atHigh] = await Promise.all(
      [1, 999].map((t) => sd.predict(latents, [1, 4, 4, 4], t, plain)),
    );
    assert.ok(maxAbsDiff(atLow, atHigh) > 1e-3, "the timestep reaches the UNet");
  });
});

Deno.test("a missing, incomplete or broken SD folder fails with a WeightsError naming the part", async () => {
  await using tmp = await tempDir("adp-sd-");
  const load = () =>
    loadStableDiffusion(tmp.path, { device: "cpu", cacheDir: join(tmp.path, "cache"), log: () => {} });
  await assert.rejects(
    load,
    (e) =>
      e instanceof WeightsError && e.code === ErrorCode.WEIGHTS_MISSING &&
      /model_index\.json/.test(e.message),
  );
  await writeTinyStableDiffusion(tmp.path, { seed: 0 });
  await Deno.remove(join(tmp.path, SD_LAYOUT.unet));
  await assert.rejects(
    load,
    (e) =>
      e instanceof WeightsError && e.code === ErrorCode.WEIGHTS_MISSING && e.message.includes(SD_LAYOUT.unet),
  );
  await writeTinyStableDiffusion(tmp.path, { seed: 0 });
  await Deno.writeTextFile(join(tmp.path, SD_LAYOUT.vaeDecoder), "not a model");
  await assert.rejects(
    load,
    (e) =>
      e instanceof WeightsError && e.code === ErrorCode.WEIGHTS_INVALID &&
      e.message.includes(SD_LAYOUT.vaeDecoder),
  );
});

Deno.test("adp models tiny --arch sd-tiny writes a folder that loads, the same for the same seed", async () => {
  await using tmp = await tempDir("adp-sd-cli-");
  for (const name of ["a", "b"]) {
    const { code, out } = await runCli([
      "models",
      "tiny",
      "--arch",
      "sd-tiny",
      "--out",
      join(tmp.path, name),
      "--seed",
      "9",
    ]);
    assert.equal(code, 0);
    assert.match(out, /wrote sd-tiny \(seed 9\)/);
  }
  assert.deepEqual(
    await Deno.readFile(join(tmp.path, "a", SD_LAYOUT.unet)),
    await Deno.readFile(join(tmp.path, "b", SD_LAYOUT.unet)),
  );
  const config = JSON.parse(
    await Deno.readTextFile(join(tmp.path, "a", SD_LAYOUT.textEncoder, "config.json")),
  );
  assert.equal(
    config.model_type,
    "clip_text_model",
    "the text encoder is a CLIPTextModel, as diffusers ships it",
  );
  const sd = await loadStableDiffusion(join(tmp.path, "a"), {
    device: "cpu",
    cacheDir: join(tmp.path, "cache"),
    log: () => {},
  });
  await sd.release();
});
