import { AssertionError, deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { clipResizeGeometry, resizeBicubic, resizeForClip } from "../../src/image/resize_bicubic.ts";
import type { Rgb8Image } from "../../src/image/decode.ts";
import { ConfigError } from "../../src/errors.ts";

// ---------------------------------------------------------------------------------------------
// Pillow 9.4's ImagingResample for 8-bit RGB, transcribed line by line into plain scalar code
// (precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal/Vertical_8bpc): the oracle
// the SIMD kernels must equal byte for byte, whole image first, crop afterwards.

function pillowCoefficients(inSize: number, outSize: number) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const kk: number[] = new Array(outSize * ksize).fill(0);
  const bounds: number[] = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let ww = 0;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      kk[xx * ksize + x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) if (ww !== 0) kk[xx * ksize + x] /= ww;
    bounds.push(xmin, xmax);
  }
  const ints = kk.map((k) => Math.trunc(k < 0 ? -0.5 + k * (1 << 22) : 0.5 + k * (1 << 22)));
  return { ksize, bounds, kk: ints };
}

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

function clip8(v: number): number {
  const s = v >> 22;
  return s < 0 ? 0 : s > 255 ? 255 : s;
}

function pillowResize(image: Rgb8Image, width: number, height: number): Rgb8Image {
  let current = image;
  if (width !== image.width) {
    const { ksize, bounds, kk } = pillowCoefficients(image.width, width);
    const out = new Uint8Array(width * image.height * 3);
    for (let y = 0; y < image.height; y++) {
      for (let xx = 0; xx < width; xx++) {
        for (let c = 0; c < 3; c++) {
          let ss = 1 << 21;
          for (let x = 0; x < bounds[xx * 2 + 1]; x++) {
            ss += image.data[(y * image.width + x + bounds[xx * 2]) * 3 + c] * kk[xx * ksize + x];
          }
          out[(y * width + xx) * 3 + c] = clip8(ss);
        }
      }
    }
    current = { width, height: image.height, data: out };
  }
  if (height !== image.height) {
    const { ksize, bounds, kk } = pillowCoefficients(image.height, height);
    const out = new Uint8Array(width * height * 3);
    for (let yy = 0; yy < height; yy++) {
      for (let x = 0; x < width * 3; x++) {
        let ss = 1 << 21;
        for (let y = 0; y < bounds[yy * 2 + 1]; y++) {
          ss += current.data[(y + bounds[yy * 2]) * width * 3 + x] * kk[yy * ksize + y];
        }
        out[yy * width * 3 + x] = clip8(ss);
      }
    }
    current = { width, height, data: out };
  }
  return current;
}

function crop(image: Rgb8Image, left: number, top: number, width: number, height: number): Rgb8Image {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * 3;
    data.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, data };
}

function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

/** Smooth content with hard edges and salt-and-pepper, so that the kernel's overshoot gets clipped. */
function testImage(width: number, height: number, seed: number): Rgb8Image {
  const next = random(seed);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        const r = next(10);
        data[i] = r === 0
          ? 0
          : r === 1
          ? 255
          : ((x * (c + 1) * 7 + y * 3) % 256) & (x > width / 2 ? 0xff : 0xf0);
      }
    }
  }
  return { width, height, data };
}

/** Byte-for-byte equality that names the first difference (assert's own diff of big arrays takes minutes). */
function assertSameBytes(actual: ArrayLike<number>, expected: ArrayLike<number>, label = ""): void {
  if (actual.length !== expected.length) {
    throw new AssertionError({ message: `${label} length ${actual.length} !== ${expected.length}` });
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new AssertionError({ message: `${label} byte ${i}: ${actual[i]} !== ${expected[i]}` });
    }
  }
}

function assertSameImage(actual: Rgb8Image, expected: Rgb8Image, label = ""): void {
  strictEqual(`${actual.width}×${actual.height}`, `${expected.width}×${expected.height}`, label);
  assertSameBytes(actual.data, expected.data, label);
}

// ---------------------------------------------------------------------------------------------

const CASES: [number, number, number, number][] = [
  [900, 900, 224, 224],
  [600, 800, 224, 298],
  [37, 23, 10, 7],
  [10, 7, 37, 23], // upscaling in both directions
  [50, 40, 50, 20], // no horizontal pass
  [50, 40, 20, 40], // no vertical pass
  [64, 48, 64, 48], // no pass at all
  [1, 1, 5, 3],
  [5, 3, 1, 1],
  [301, 5, 17, 9],
  [3, 200, 2, 33],
];

for (const [inW, inH, outW, outH] of CASES) {
  Deno.test(`resizeBicubic() equals Pillow's BICUBIC byte for byte for ${inW}×${inH} → ${outW}×${outH}`, () => {
    const image = testImage(inW, inH, inW * 31 + outH);
    const expected = pillowResize(image, outW, outH);
    assertSameImage(resizeBicubic(image, { width: outW, height: outH }), expected);
  });
}

Deno.test("resizeBicubic() computes any crop window exactly as resizing everything then cropping", () => {
  const next = random(11);
  for (const [inW, inH, outW, outH] of CASES) {
    const image = testImage(inW, inH, outW);
    const full = pillowResize(image, outW, outH);
    for (let k = 0; k < 6; k++) {
      const w = 1 + next(outW);
      const h = 1 + next(outH);
      const left = next(outW - w + 1);
      const top = next(outH - h + 1);
      const window = { left, top, width: w, height: h };
      assertSameImage(
        resizeBicubic(image, { width: outW, height: outH, crop: window }),
        crop(full, left, top, w, h),
        JSON.stringify({ inW, inH, outW, outH, window }),
      );
    }
  }
});

Deno.test("resizeBicubic() keeps a flat image flat at every size", () => {
  const data = new Uint8Array(33 * 17 * 3).fill(0).map((_, i) => [17, 128, 250][i % 3]);
  for (const [w, h] of [[5, 5], [100, 9], [33, 17], [1, 40]]) {
    const out = resizeBicubic({ width: 33, height: 17, data }, { width: w, height: h });
    assertSameBytes(
      out.data,
      Array.from({ length: w * h * 3 }, (_, i) => [17, 128, 250][i % 3]),
      `${w}×${h}`,
    );
  }
});

Deno.test("clipResizeGeometry() scales the shorter side, rounds the longer one and floors the crop offset", () => {
  deepStrictEqual(clipResizeGeometry(600, 800, { size: 224, mode: "crop" }), {
    width: 224,
    height: 299, // round(224 * 800 / 600) = round(298.67)
    crop: { left: 0, top: 37, width: 224, height: 224 }, // floor(75 / 2)
  });
  deepStrictEqual(clipResizeGeometry(800, 600, { size: 224, mode: "crop" }), {
    width: 299,
    height: 224,
    crop: { left: 37, top: 0, width: 224, height: 224 },
  });
  deepStrictEqual(clipResizeGeometry(900, 900, { size: 224, mode: "crop" }), {
    width: 224,
    height: 224,
    crop: { left: 0, top: 0, width: 224, height: 224 },
  });
  strictEqual(clipResizeGeometry(600, 796, { size: 224, mode: "crop" }).height, 297); // 297.17
  strictEqual(clipResizeGeometry(600, 796, { size: 224, mode: "crop" }).crop.top, 36);
});

Deno.test("clipResizeGeometry() squashes the whole image in resize mode", () => {
  deepStrictEqual(clipResizeGeometry(600, 800, { size: 240, mode: "resize" }), {
    width: 240,
    height: 240,
    crop: { left: 0, top: 0, width: 240, height: 240 },
  });
});

Deno.test("resizeForClip() crops the centre of the shorter-side resize", () => {
  const image = testImage(60, 80, 2);
  const full = pillowResize(image, 32, 43);
  assertSameImage(resizeForClip(image, { size: 32, mode: "crop" }), crop(full, 0, 5, 32, 32));
});

Deno.test("resizeBicubic() throws ConfigError for bad sizes, windows and buffers", () => {
  const image = testImage(8, 8, 1);
  throws(() => resizeBicubic(image, { width: 0, height: 4 }), ConfigError);
  throws(() => resizeBicubic(image, { width: 4.5, height: 4 }), ConfigError);
  throws(
    () => resizeBicubic(image, { width: 4, height: 4, crop: { left: 1, top: 0, width: 4, height: 4 } }),
    ConfigError,
  );
  throws(
    () => resizeBicubic({ ...image, data: image.data.subarray(1) }, { width: 4, height: 4 }),
    ConfigError,
  );
  throws(() => clipResizeGeometry(8, 8, { size: 4, mode: "stretch" as "crop" }), ConfigError);
});
