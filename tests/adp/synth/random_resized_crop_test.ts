import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { randomResizedCrop, randomResizedCropBox } from "../../../src/adp/synth/random_resized_crop.ts";
import { Random } from "../../../src/random.ts";
import { ConfigError } from "../../../src/errors.ts";

const RANGES = { scale: [0.3, 1] as [number, number], ratio: [3 / 4, 4 / 3] as [number, number] };

Deno.test("randomResizedCropBox() draws boxes inside the image with area and ratio in range", () => {
  const random = new Random(8);
  for (let i = 0; i < 500; i++) {
    const b = randomResizedCropBox({ width: 300, height: 200 }, random, RANGES);
    ok(b.left >= 0 && b.top >= 0 && b.left + b.width <= 300 && b.top + b.height <= 200, JSON.stringify(b));
    const area = (b.width * b.height) / (300 * 200);
    // Rounding to whole pixels moves area and ratio a little past the drawn values.
    ok(area >= 0.29 && area <= 1.01, `area ${area}`);
    ok(b.width / b.height >= 0.74 && b.width / b.height <= 1.35, `ratio ${b.width / b.height}`);
  }
});

Deno.test("randomResizedCropBox() falls back to torchvision's centre crop when no draw fits", () => {
  // An area above the image's never fits: ten failed tries, then the centre crop, its ratio clamped.
  const box = randomResizedCropBox({ width: 400, height: 100 }, new Random(1), {
    scale: [2, 3],
    ratio: [3 / 4, 4 / 3],
  });
  deepStrictEqual(box, { left: 133, top: 0, width: 133, height: 100 });
});

Deno.test("randomResizedCropBox() keeps the given point inside every box", () => {
  const random = new Random(4);
  for (const point of [{ x: 0, y: 0 }, { x: 299, y: 199 }, { x: 150, y: 20 }, { x: 7, y: 180 }]) {
    for (let i = 0; i < 200; i++) {
      const b = randomResizedCropBox({ width: 300, height: 200 }, random, { ...RANGES, contains: point });
      ok(
        point.x >= b.left && point.x < b.left + b.width && point.y >= b.top && point.y < b.top + b.height,
        `${JSON.stringify(point)} outside ${JSON.stringify(b)}`,
      );
    }
  }
  const fallback = randomResizedCropBox({ width: 400, height: 100 }, new Random(1), {
    scale: [2, 3],
    ratio: [3 / 4, 4 / 3],
    contains: { x: 390, y: 50 },
  });
  // Shifted right just far enough to hold x = 390.
  deepStrictEqual(fallback, { left: 258, top: 0, width: 133, height: 100 });
});

Deno.test("randomResizedCrop() returns size×size and keeps the mask on the same pixels as the image", () => {
  // A white rectangle on black, its mask exactly under it: after any crop, the mask must still
  // cover the bright pixels and only them (up to the half-pixel blur at the rectangle's rim).
  const width = 300, height = 220;
  const data = new Uint8Array(width * height * 3);
  const mask = new Uint8Array(width * height);
  for (let y = 60; y < 150; y++) {
    for (let x = 100; x < 230; x++) {
      data.fill(255, (y * width + x) * 3, (y * width + x + 1) * 3);
      mask[y * width + x] = 255;
    }
  }
  const random = new Random(21);
  for (let i = 0; i < 20; i++) {
    const out = randomResizedCrop({ width, height, data }, random, { size: 64, ...RANGES, mask });
    strictEqual(out.image.width, 64);
    strictEqual(out.image.height, 64);
    strictEqual(out.mask!.length, 64 * 64);
    for (let p = 0; p < 64 * 64; p++) {
      const v = out.image.data[p * 3];
      if (v > 200) strictEqual(out.mask![p], 255, `crop ${i}: bright pixel ${p} not in the mask`);
      if (v < 55) strictEqual(out.mask![p], 0, `crop ${i}: dark pixel ${p} in the mask`);
    }
  }
});

Deno.test("randomResizedCrop() keeps a one-pixel mask from vanishing when it downsamples", () => {
  const width = 400, height = 400;
  const mask = new Uint8Array(width * height);
  mask[200 * width + 200] = 255;
  const out = randomResizedCrop({ width, height, data: new Uint8Array(width * height * 3) }, new Random(2), {
    size: 32,
    scale: [0.8, 1],
    ratio: [1, 1],
    mask,
    contains: { x: 200, y: 200 },
  });
  ok(out.mask!.some((m) => m === 255));
});

Deno.test("randomResizedCrop() refuses a bad size, an empty range and a mask of the wrong length", () => {
  const image = { width: 10, height: 10, data: new Uint8Array(300) };
  throws(() => randomResizedCrop(image, new Random(0), { size: 0, ...RANGES }), ConfigError);
  throws(
    () => randomResizedCrop(image, new Random(0), { size: 4, scale: [0.5, 0.2], ratio: [1, 1] }),
    ConfigError,
  );
  throws(
    () => randomResizedCrop(image, new Random(0), { size: 4, ...RANGES, mask: new Uint8Array(5) }),
    ConfigError,
  );
  throws(
    () => randomResizedCropBox(image, new Random(0), { ...RANGES, contains: { x: 10, y: 0 } }),
    ConfigError,
  );
});
