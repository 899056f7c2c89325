import { concatBytes } from "../../src/bytes.ts";
import { AssertionError, deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { crc32, deflateSync } from "node:zlib";
import { Image } from "imagescript";
import { decodeImage, DEFAULT_MAX_PIXELS } from "../../src/image/decode.ts";
import { readImageHeader } from "../../src/image/header.ts";
import { ErrorCode, ImageError } from "../../src/errors.ts";
import { needsShared, sharedPath } from "../_shared.ts";

// ---------------------------------------------------------------------------------------------
// A small PNG encoder covering what the decoder must read: every colour type and bit depth, Adam7,
// all five row filters (cycled row by row) and image data split over several IDAT chunks.

interface PngSpec {
  width: number;
  height: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** Samples per pixel, row-major, channel-interleaved, each in 0 … 2^bitDepth - 1. */
  samples: number[];
  palette?: number[];
  interlaced?: boolean;
  /** Row filters, repeated down the image. @default {[0, 1, 2, 3, 4]} */
  filters?: number[];
}

const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [
  0,
  1,
  1,
  2,
]];

function encodePng(spec: PngSpec): Uint8Array {
  const { width, height, colorType, bitDepth } = spec;
  const channels = CHANNELS[colorType];
  const bitsPerPixel = channels * bitDepth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const scanlines: number[] = [];
  let rowIndex = 0;
  for (const [x0, y0, dx, dy] of spec.interlaced ? ADAM7 : [[0, 0, 1, 1]]) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const rowBytes = Math.ceil((pw * bitsPerPixel) / 8);
    let prior = new Uint8Array(rowBytes);
    for (let py = 0; py < ph; py++) {
      const row = new Uint8Array(rowBytes);
      for (let px = 0; px < pw; px++) {
        const pixel = (y0 + py * dy) * width + x0 + px * dx;
        for (let c = 0; c < channels; c++) {
          const v = spec.samples[pixel * channels + c];
          const bit = (px * channels + c) * bitDepth;
          if (bitDepth === 16) {
            row[bit >> 3] = v >> 8;
            row[(bit >> 3) + 1] = v & 255;
          } else if (bitDepth === 8) row[bit >> 3] = v;
          else row[bit >> 3] |= v << (8 - bitDepth - (bit & 7));
        }
      }
      const filters = spec.filters ?? [0, 1, 2, 3, 4];
      const filter = filters[rowIndex++ % filters.length];
      scanlines.push(filter, ...applyFilter(filter, row, prior, bpp));
      prior = row;
    }
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([bitDepth, colorType, 0, 0, spec.interlaced ? 1 : 0], 8);
  const data = deflateSync(new Uint8Array(scanlines));
  const third = Math.ceil(data.length / 3);
  return concatBytes([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    ...(spec.palette ? [chunk("PLTE", new Uint8Array(spec.palette))] : []),
    chunk("IDAT", data.subarray(0, third)),
    chunk("IDAT", data.subarray(third, 2 * third)),
    chunk("IDAT", data.subarray(2 * third)),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

function applyFilter(filter: number, row: Uint8Array, prior: Uint8Array, bpp: number): Uint8Array {
  const out = new Uint8Array(row.length);
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp] : 0;
    const b = prior[i];
    const c = i >= bpp ? prior[i - bpp] : 0;
    const p = a + b - c;
    const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
    const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    const predictor = [0, a, b, (a + b) >> 1, paeth][filter];
    out[i] = (row[i] - predictor) & 255;
  }
  return out;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** What CLIP's `convert("RGB")` makes of the samples: grey replicated, palette looked up, alpha dropped. */
function expectedRgb(spec: PngSpec): number[] {
  const channels = CHANNELS[spec.colorType];
  const out: number[] = [];
  const to8 = (v: number) =>
    spec.bitDepth === 16
      ? v >> 8
      : spec.bitDepth < 8
      ? Math.round((v * 255) / ((1 << spec.bitDepth) - 1))
      : v;
  for (let i = 0; i < spec.width * spec.height; i++) {
    const s = spec.samples.slice(i * channels, (i + 1) * channels);
    if (spec.colorType === 3) out.push(...spec.palette!.slice(s[0] * 3, s[0] * 3 + 3));
    else if (channels <= 2) out.push(to8(s[0]), to8(s[0]), to8(s[0]));
    else out.push(to8(s[0]), to8(s[1]), to8(s[2]));
  }
  return out;
}

/** Deterministic pseudo-random integers (mulberry32). */
function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

function randomSpec(colorType: PngSpec["colorType"], bitDepth: PngSpec["bitDepth"], seed: number): PngSpec {
  const next = random(seed);
  const width = 13 + next(40);
  const height = 11 + next(9);
  const channels = CHANNELS[colorType];
  const paletteSize = colorType === 3 ? Math.min(256, 1 << bitDepth) : 0;
  // Smooth gradients plus noise, so that every filter sees both small and large differences.
  const samples = Array.from({ length: width * height * channels }, (_, i) => {
    const max = colorType === 3 ? paletteSize - 1 : (1 << bitDepth) - 1;
    const pixel = Math.floor(i / channels);
    const smooth = Math.floor((((pixel % width) + Math.floor(pixel / width)) * max) / (width + height));
    return next(4) === 0 ? next(max + 1) : smooth;
  });
  const palette = colorType === 3 ? Array.from({ length: paletteSize * 3 }, () => next(256)) : undefined;
  return { width, height, colorType, bitDepth, samples, palette };
}

function rgbOf(image: Image): number[] {
  const out: number[] = [];
  for (let i = 0; i < image.width * image.height; i++) out.push(...image.bitmap.subarray(i * 4, i * 4 + 3));
  return out;
}

function pngHeaderOnly(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return concatBytes([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr)]);
}

function jpegHeaderOnly(width: number, height: number): Uint8Array {
  // SOI, an APP0 segment to skip, then SOF0 announcing the size; no scan follows.
  return new Uint8Array([
    0xff,
    0xd8,
    0xff,
    0xe0,
    0x00,
    0x04,
    0x4a,
    0x46,
    0xff,
    0xc0,
    0x00,
    0x11,
    0x08,
    height >> 8,
    height & 255,
    width >> 8,
    width & 255,
    0x03,
    1,
    0x22,
    0,
    2,
    0x11,
    1,
    3,
    0x11,
    1,
  ]);
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

async function rejectsWithImageError(bytes: Uint8Array, pattern: RegExp, opts?: { maxPixels?: number }) {
  await rejects(() => decodeImage(bytes, opts), (e: unknown) => {
    ok(e instanceof ImageError, `expected an ImageError, got ${e}`);
    strictEqual(e.code, ErrorCode.IMAGE_INVALID);
    ok(pattern.test(e.message), `message ${JSON.stringify(e.message)} does not match ${pattern}`);
    ok(/^[A-Z]/.test(e.message) && !e.message.endsWith("."), `message style: ${e.message}`);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------

const FORMATS: [PngSpec["colorType"], PngSpec["bitDepth"]][] = [
  [0, 1],
  [0, 2],
  [0, 4],
  [0, 8],
  [0, 16],
  [2, 8],
  [2, 16],
  [3, 1],
  [3, 2],
  [3, 4],
  [3, 8],
  [4, 8],
  [4, 16],
  [6, 8],
  [6, 16],
];

for (const interlaced of [false, true]) {
  for (const [colorType, bitDepth] of FORMATS) {
    Deno.test(
      `decodeImage() reads a colour type ${colorType}, ${bitDepth}-bit${
        interlaced ? " Adam7" : ""
      } PNG as CLIP does`,
      async () => {
        const spec = { ...randomSpec(colorType, bitDepth, colorType * 100 + bitDepth), interlaced };
        const image = await decodeImage(encodePng(spec));
        strictEqual(image.width, spec.width);
        strictEqual(image.height, spec.height);
        assertSameBytes(image.data, expectedRgb(spec));
      },
    );
  }
}

Deno.test("decodeImage() un-filters runs of Paeth rows, paired or not, in every row layout", async () => {
  for (const filters of [[4], [4, 4, 2], [1, 4, 4, 4], [3, 4]]) {
    for (const [colorType, bitDepth] of [[2, 8], [2, 16], [6, 8], [0, 8], [4, 16]] as const) {
      for (const height of [1, 2, 7]) {
        const spec = { ...randomSpec(colorType, bitDepth, height * 7 + filters.length), height: 0, filters };
        spec.height = height;
        spec.samples = spec.samples.slice(0, spec.width * height * CHANNELS[colorType]);
        const image = await decodeImage(encodePng(spec));
        assertSameBytes(
          image.data,
          expectedRgb(spec),
          JSON.stringify({ filters, colorType, bitDepth, height }),
        );
      }
    }
  }
});

Deno.test("decodeImage() un-filters wide RGB and RGBA rows exactly like imagescript's decoder", async () => {
  const next = random(7);
  for (const [w, h] of [[257, 31], [1, 9], [640, 4]]) {
    const source = new Image(w, h);
    for (let i = 0; i < source.bitmap.length; i++) {
      source.bitmap[i] = i % 4 === 3 ? 55 + next(200) : (Math.floor(i / 4) % w) + next(20);
    }
    const png = await source.encode();
    const image = await decodeImage(png);
    assertSameBytes(image.data, rgbOf(await Image.decode(png)), `${w}×${h}`);
  }
});

Deno.test('decodeImage() drops alpha without compositing, as PIL\'s convert("RGB") does', async () => {
  const source = new Image(2, 1);
  source.setPixelAt(1, 1, 0x80402000); // fully transparent
  source.setPixelAt(2, 1, 0x10203080); // half transparent
  const image = await decodeImage(await source.encode());
  deepStrictEqual([...image.data], [0x80, 0x40, 0x20, 0x10, 0x20, 0x30]);
});

Deno.test(
  "decodeImage() reads the fixture PNGs exactly like imagescript's decoder",
  needsShared,
  async () => {
    for (
      const [file, width, height] of [["0.png", 900, 900], ["2.png", 600, 800], ["3.png", 600, 800]] as const
    ) {
      const bytes = await Deno.readFile(sharedPath("fixtures", "preprocess", "images", file));
      const image = await decodeImage(bytes);
      deepStrictEqual([image.width, image.height], [width, height]);
      assertSameBytes(image.data, rgbOf(await Image.decode(bytes)), file);
    }
  },
);

Deno.test(
  "decodeImage() reads the fixture JPEG close to the PNG it was encoded from",
  needsShared,
  async () => {
    const dir = sharedPath("fixtures", "preprocess", "images");
    const jpeg = await decodeImage(await Deno.readFile(`${dir}/4.jpg`));
    const png = await decodeImage(await Deno.readFile(`${dir}/0.png`));
    deepStrictEqual([jpeg.width, jpeg.height], [900, 900]);
    let sum = 0;
    for (let i = 0; i < png.data.length; i++) sum += Math.abs(jpeg.data[i] - png.data[i]);
    ok(sum / png.data.length < 3, `mean JPEG error ${sum / png.data.length} levels`);
  },
);

Deno.test("decodeImage() replicates a greyscale JPEG to three equal channels", needsShared, async () => {
  const dir = sharedPath("datasets", "magnetic-tile", "tile", "train", "good");
  const file = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".jpg")).sort()[0];
  const bytes = await Deno.readFile(`${dir}/${file}`);
  const header = readImageHeader(bytes);
  const image = await decodeImage(bytes);
  deepStrictEqual([image.width, image.height], [header.width, header.height]);
  for (let i = 0; i < image.data.length; i += 3) {
    if (image.data[i] !== image.data[i + 1] || image.data[i] !== image.data[i + 2]) {
      throw new Error(`pixel ${i / 3} is not grey`);
    }
  }
  ok(image.data.some((v) => v !== image.data[0]), "the image is not flat");
});

Deno.test("decodeImage() decodes imagescript's own JPEG to its size and colours", async () => {
  const source = new Image(40, 24).fill(0x3c78b4ff);
  const image = await decodeImage(await source.encodeJPEG(95));
  deepStrictEqual([image.width, image.height], [40, 24]);
  for (const [i, v] of [[0, 0x3c], [1, 0x78], [2, 0xb4]]) ok(Math.abs(image.data[i] - v) <= 2);
});

Deno.test("readImageHeader() reads sizes from PNG IHDR and JPEG SOFn without decoding", () => {
  deepStrictEqual(readImageHeader(pngHeaderOnly(30000, 20000)), {
    format: "png",
    width: 30000,
    height: 20000,
  });
  deepStrictEqual(readImageHeader(jpegHeaderOnly(640, 480)), { format: "jpeg", width: 640, height: 480 });
});

Deno.test("decodeImage() refuses a PNG announcing 30000×30000 from its header alone", async () => {
  const t0 = performance.now();
  await rejectsWithImageError(pngHeaderOnly(30000, 30000), /^Image is too large: 30000×30000/);
  ok(performance.now() - t0 < 100, "the refusal took too long");
});

Deno.test("decodeImage() refuses a JPEG announcing 30000×30000 from its header alone", async () => {
  await rejectsWithImageError(jpegHeaderOnly(30000, 30000), /^Image is too large: 30000×30000/);
});

Deno.test("decodeImage() applies maxPixels to an otherwise valid image", async () => {
  const png = encodePng(randomSpec(2, 8, 1));
  await rejectsWithImageError(png, /^Image is too large: .* the limit is 100$/, { maxPixels: 100 });
  ok((await decodeImage(png, { maxPixels: DEFAULT_MAX_PIXELS })).width > 0);
});

Deno.test("decodeImage() throws ImageError for zero bytes", async () => {
  await rejectsWithImageError(new Uint8Array(0), /^Image is empty/);
});

Deno.test("decodeImage() throws ImageError for random bytes", async () => {
  const next = random(3);
  const bytes = new Uint8Array(4096).map(() => next(256));
  await rejectsWithImageError(bytes, /^Image format is not recognised: expected PNG or JPEG/);
  await rejectsWithImageError(new TextEncoder().encode("GIF89a..."), /^Image format is not recognised/);
});

Deno.test("decodeImage() throws ImageError for a PNG cut anywhere before its image data ends", async () => {
  const png = encodePng(randomSpec(2, 8, 5));
  for (const cut of [4, 8, 20, 33, 40, Math.floor(png.length / 2), png.length - 16]) {
    await rejectsWithImageError(
      png.subarray(0, cut),
      /^PNG( image data)? is (truncated|corrupt)|^Image format/,
    );
  }
});

Deno.test("decodeImage() throws ImageError for a PNG with a corrupt deflate stream", async () => {
  const png = encodePng(randomSpec(2, 8, 6)).slice();
  const idat = png.findIndex((_, i) => String.fromCharCode(...png.subarray(i, i + 4)) === "IDAT");
  png.fill(0xff, idat + 6, idat + 14);
  await rejectsWithImageError(png, /^PNG image data is corrupt/);
});

Deno.test("decodeImage() throws ImageError for a PNG header with an impossible format", async () => {
  const png = pngHeaderOnly(4, 4);
  png[24] = 3; // bit depth 3
  await rejectsWithImageError(png, /^PNG header is invalid: bit depth 3 with colour type 2$/);
  await rejectsWithImageError(pngHeaderOnly(0, 4), /^PNG has no pixels: 0×4$/);
  await rejectsWithImageError(pngHeaderOnly(4, 4), /^PNG is truncated: no image data/);
});

Deno.test("decodeImage() throws ImageError for a truncated JPEG", needsShared, async () => {
  const jpeg = await Deno.readFile(sharedPath("fixtures", "preprocess", "images", "4.jpg"));
  for (const cut of [3, 100, Math.floor(jpeg.length / 2), jpeg.length - 100]) {
    await rejectsWithImageError(jpeg.subarray(0, cut), /^JPEG is (truncated|corrupt)/);
  }
  await rejectsWithImageError(jpegHeaderOnly(64, 64), /^JPEG is truncated or corrupt/);
});

Deno.test("decodeImage() rejects a non-positive maxPixels as a configuration error", async () => {
  await rejects(() => decodeImage(pngHeaderOnly(1, 1), { maxPixels: 0 }), { name: "ConfigError" });
});

Deno.test("readImageHeader() throws ImageError for input that is not an image", () => {
  throws(() => readImageHeader(new Uint8Array([1, 2, 3])), ImageError);
});
