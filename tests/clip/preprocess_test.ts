import { ok, rejects, strictEqual, throws } from "node:assert/strict";
import { Image } from "imagescript";
import { preprocessImage, preprocessRgb } from "../../src/clip/preprocess.ts";
import { decodeImage } from "../../src/image/decode.ts";
import { CLIP_MEAN, CLIP_STD } from "../../src/clip/config.ts";
import { ConfigError, ImageError } from "../../src/errors.ts";
import { needsShared, sharedPath } from "../_shared.ts";

const FIXTURES = ["0.png", "1.png", "2.png", "3.png", "4.jpg"];

/** The few lines of safetensors this test needs: 8-byte little-endian header length, JSON header, F32 data. */
async function readReference(name: string): Promise<{ shape: number[]; data: Float32Array }> {
  const bytes = await Deno.readFile(sharedPath("fixtures", "preprocess", "reference.safetensors"));
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const { dtype, shape, data_offsets: [begin, end] } = header[name];
  strictEqual(dtype, "F32");
  const data = new Float32Array(bytes.slice(8 + headerLength + begin, 8 + headerLength + end).buffer);
  return { shape, data };
}

function fixture(file: string): Promise<Uint8Array> {
  return Deno.readFile(sharedPath("fixtures", "preprocess", "images", file));
}

function difference(actual: Float32Array, expected: Float32Array): { mean: number; max: number } {
  strictEqual(actual.length, expected.length);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / actual.length, max };
}

function checkAgainstReference(
  file: string,
  actual: Float32Array,
  reference: Float32Array,
  index: number,
): void {
  const per = actual.length;
  const { mean, max } = difference(actual, reference.subarray(index * per, (index + 1) * per));
  if (file.endsWith(".jpg")) {
    // Another JPEG decoder than PIL's libjpeg: a few levels here and there are expected.
    ok(mean <= 0.03, `${file}: mean ${mean}`);
  } else {
    ok(mean <= 0.01 && max <= 0.1, `${file}: mean ${mean}, max ${max}`);
  }
}

// ---------------------------------------------------------------------------------------------

Deno.test(
  "preprocessImage() matches PIL's reference for every fixture in resize mode (240)",
  needsShared,
  async () => {
    const reference = await readReference("full240");
    for (const [index, file] of FIXTURES.entries()) {
      const x = await preprocessImage(await fixture(file), { size: 240, mode: "resize" });
      checkAgainstReference(file, x, reference.data, index);
    }
  },
);

Deno.test(
  "preprocessImage() matches PIL's reference for every fixture in crop mode (224)",
  needsShared,
  async () => {
    const reference = await readReference("crop224");
    for (const [index, file] of FIXTURES.entries()) {
      const x = await preprocessImage(await fixture(file), { size: 224, mode: "crop" });
      checkAgainstReference(file, x, reference.data, index);
    }
  },
);

Deno.test("preprocessRgb() lays out channel planes and applies the given mean and std", () => {
  const image = { width: 4, height: 2, data: new Uint8Array(4 * 2 * 3).map((_, i) => [0, 51, 255][i % 3]) };
  const x = preprocessRgb(image, { size: 2, mode: "resize", mean: [0, 0.5, 1], std: [1, 0.5, 2] });
  strictEqual(x.length, 3 * 2 * 2);
  const expected = [0, (0.2 - 0.5) / 0.5, 0];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 4; i++) {
      ok(Math.abs(x[c * 4 + i] - expected[c]) < 1e-6, `channel ${c}: ${x[c * 4 + i]}`);
    }
  }
});

Deno.test("preprocessRgb() defaults to CLIP's mean and std", () => {
  const image = { width: 3, height: 3, data: new Uint8Array(27).fill(255) };
  const x = preprocessRgb(image, { size: 3, mode: "crop" });
  for (let c = 0; c < 3; c++) ok(Math.abs(x[c * 9] - (1 - CLIP_MEAN[c]) / CLIP_STD[c]) < 1e-6);
});

Deno.test("preprocessImage() equals decodeImage() followed by preprocessRgb()", async () => {
  const source = new Image(50, 30);
  for (let i = 0; i < source.bitmap.length; i++) source.bitmap[i] = (i * 37) % 256;
  const png = await source.encode();
  const opts = { size: 16, mode: "crop" } as const;
  const { max } = difference(await preprocessImage(png, opts), preprocessRgb(await decodeImage(png), opts));
  strictEqual(max, 0);
});

Deno.test("preprocessImage() passes maxPixels to the decoder", async () => {
  const png = await new Image(20, 20).fill(0xffffffff).encode();
  await rejects(() => preprocessImage(png, { size: 8, mode: "crop", maxPixels: 399 }), ImageError);
  strictEqual((await preprocessImage(png, { size: 8, mode: "crop", maxPixels: 400 })).length, 3 * 64);
});

Deno.test("preprocessRgb() throws ConfigError for a bad size, mode, mean or std", () => {
  const image = { width: 2, height: 2, data: new Uint8Array(12) };
  throws(() => preprocessRgb(image, { size: 0, mode: "crop" }), ConfigError);
  throws(() => preprocessRgb(image, { size: 2, mode: "fit" as "crop" }), ConfigError);
  throws(
    () =>
      preprocessRgb(image, { size: 2, mode: "crop", mean: [0, 0] as unknown as [number, number, number] }),
    ConfigError,
  );
  throws(() => preprocessRgb(image, { size: 2, mode: "crop", std: [1, 0, 1] }), ConfigError);
});
