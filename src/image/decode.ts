/**
 * PNG and JPEG bytes to an interleaved RGB8 buffer, the way CLIP's `Image.open(...).convert("RGB")`
 * sees them: grey replicated to three channels, alpha dropped without compositing, palettes expanded,
 * 16-bit samples reduced to their high byte.
 *
 * PNG goes through our own decoder: native zlib (`node:zlib`) and Paeth un-filtering in a small
 * WebAssembly SIMD kernel. On a 900×900 RGB frame imagescript's PNG path took ≈ 42 ms, this one
 * ≈ 6 ms (inflate ≈ 3.2 ms of it; un-filtering in plain JavaScript alone took 6–12 ms). JPEG goes
 * through imagescript's WebAssembly decoder (jpeg-decoder 0.1.22), called directly because
 * `Image.decode` spends two thirds of its time repacking RGB to RGBA one pixel at a time (≈ 51 →
 * 18 ms); it is not bit-identical to PIL's libjpeg, a level or two here and there.
 *
 * One deliberate difference from PIL: a 16-bit greyscale PNG becomes its high byte, where PIL's
 * `I` → `RGB` conversion clips the 16-bit value at 255 and turns most of the image white.
 *
 * Every input is measured from its header first (PNG IHDR, JPEG SOFn) and refused above
 * `maxPixels` before anything of image size is allocated.
 *
 * @module
 */
import { inflateSync } from "node:zlib";
import jpegWasm from "imagescript/wasm/node/jpeg.js";
import { ConfigError, ImageError } from "../errors.ts";
import { type WasmKernel, WasmKernels, WasmLayout } from "./_wasm.ts";

/** An 8-bit RGB image, rows top to bottom, channels interleaved (`R G B R G B …`). */
export interface Rgb8Image {
  width: number;
  height: number;
  /** `width * height * 3` bytes. */
  data: Uint8Array;
}

/** The container formats {@linkcode decodeImage} accepts. */
export type ImageFormat = "png" | "jpeg";

/** What an image's header announces, read without decoding any pixels. */
export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

/** Options for {@linkcode decodeImage}. */
export interface DecodeOptions {
  /**
   * Largest accepted `width * height`; bigger images are refused from their header alone.
   * @default {50_000_000}
   */
  maxPixels?: number;
}

/** The default pixel limit: 50 megapixels, far above any camera frame, far below a decompression bomb. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Reads format and dimensions from an image's header without decoding it.
 *
 * @param bytes the encoded image
 * @returns the format and the announced width and height
 * @throws {ImageError} when the bytes are empty, not PNG or JPEG, or the header is malformed
 *
 * @example Read a PNG's size
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const png = new Uint8Array([
 *   0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
 *   0, 0, 0x75, 0x30, 0, 0, 0x75, 0x30, 8, 2, 0, 0, 0, 0, 0, 0, 0,
 * ]);
 * deepStrictEqual(readImageHeader(png), { format: "png", width: 30000, height: 30000 });
 * ```
 */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  if (bytes.length === 0) throw new ImageError("Image is empty: zero bytes");
  if (isPng(bytes)) {
    const ihdr = readIhdr(bytes);
    return { format: "png", width: ihdr.width, height: ihdr.height };
  }
  if (isJpeg(bytes)) return readJpegHeader(bytes);
  throw new ImageError(`Image format is not recognised: expected PNG or JPEG, got ${describeStart(bytes)}`);
}

/**
 * Decodes a PNG or JPEG into RGB8, refusing images above `maxPixels` before allocating for them.
 *
 * @param bytes the encoded image
 * @param opts the pixel limit
 * @returns the decoded image, channels interleaved
 * @throws {ImageError} when the bytes are empty, not PNG or JPEG, truncated, corrupt or too large
 *
 * @example Decode a 1×1 grey PNG
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { Image } from "imagescript";
 * const png = await new Image(1, 1).fill(0x808080ff).encode();
 * const img = await decodeImage(png);
 * deepStrictEqual([img.width, img.height, [...img.data]], [1, 1, [128, 128, 128]]);
 * ```
 */
export async function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<Rgb8Image> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(Number.isFinite(maxPixels) && maxPixels > 0)) {
    throw new ConfigError(`Option maxPixels must be a positive number: got ${maxPixels}`);
  }
  const header = readImageHeader(bytes);
  const pixels = header.width * header.height;
  if (pixels > maxPixels) {
    throw new ImageError(
      `Image is too large: ${header.width}×${header.height} is ${pixels} pixels, the limit is ${maxPixels}`,
    );
  }
  return header.format === "png" ? decodePng(bytes) : await decodeJpeg(bytes, header);
}

// ---------------------------------------------------------------------------------------------
// PNG

interface Ihdr {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

/** Samples per pixel for each PNG colour type, and the bit depths the specification allows. */
const PNG_COLOR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};

/** Largest single output chunk asked of zlib, so that a lying header cannot make us allocate much up front. */
const INFLATE_CHUNK_LIMIT = 16 << 20;

/** Adam7 passes: [x0, y0, dx, dy]. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== PNG_SIGNATURE[i]) return false;
  return true;
}

function chunkType(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

/** A chunk type for a message: its letters, or its bytes in hex when it has others (newlines, say). */
function printableType(type: string): string {
  if (/^[A-Za-z]{4}$/.test(type)) return type;
  return `0x${[...type].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("")}`;
}

function readIhdr(bytes: Uint8Array): Ihdr {
  if (bytes.length < 33) {
    throw new ImageError(`PNG is truncated: ${bytes.length} bytes end inside the header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(8) !== 13 || chunkType(bytes, 12) !== "IHDR") {
    throw new ImageError("PNG header is invalid: the first chunk is not a 13-byte IHDR");
  }
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const bitDepth = bytes[24];
  const colorType = bytes[25];
  if (width === 0 || height === 0) throw new ImageError(`PNG has no pixels: ${width}×${height}`);
  if (width > 0x7fffffff || height > 0x7fffffff) {
    throw new ImageError(`PNG header is invalid: ${width}×${height} exceeds the PNG maximum`);
  }
  const kind = PNG_COLOR_TYPES[colorType];
  if (!kind || !kind.depths.includes(bitDepth)) {
    throw new ImageError(`PNG header is invalid: bit depth ${bitDepth} with colour type ${colorType}`);
  }
  if (bytes[26] !== 0 || bytes[27] !== 0 || bytes[28] > 1) {
    throw new ImageError(
      `PNG header is invalid: compression ${bytes[26]}, filter ${bytes[27]}, interlace ${bytes[28]}`,
    );
  }
  return { width, height, bitDepth, colorType, interlaced: bytes[28] === 1 };
}

function decodePng(bytes: Uint8Array): Rgb8Image {
  const ihdr = readIhdr(bytes);
  const { width, height, bitDepth, colorType } = ihdr;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idat: Uint8Array[] = [];
  let idatBytes = 0;
  let palette: Uint8Array | undefined;
  let at = 8;
  while (at < bytes.length) {
    // A cut after some image data stops the scan and leaves the verdict to inflate: like PIL, a cut in
    // trailing metadata is no reason to drop a frame whose pixels are all there.
    if (at + 12 > bytes.length) {
      if (idatBytes > 0) break;
      throw new ImageError(`PNG is truncated: ${bytes.length - at} stray bytes where a chunk should start`);
    }
    const length = view.getUint32(at);
    const type = chunkType(bytes, at + 4);
    const end = at + 12 + length;
    if (end > bytes.length) {
      if (idatBytes > 0 && type !== "IDAT") break;
      throw new ImageError(
        `PNG is truncated: chunk ${printableType(type)} runs ${end - bytes.length} bytes past the end`,
      );
    }
    const body = bytes.subarray(at + 8, at + 8 + length);
    if (type === "IDAT") {
      idat.push(body);
      idatBytes += length;
    } else if (type === "PLTE") {
      if (length % 3 !== 0 || length === 0 || length > 768) {
        throw new ImageError(`PNG palette is invalid: ${length} bytes`);
      }
      // Indices past the palette's end read black, as in PIL's zero-padded palette.
      palette = new Uint8Array(768);
      palette.set(body);
    } else if (type === "IEND") {
      break;
    }
    at = end;
  }
  if (idatBytes === 0) throw new ImageError("PNG is truncated: no image data (IDAT) found");
  if (colorType === 3 && !palette) {
    throw new ImageError("PNG is invalid: a palette image without a PLTE chunk");
  }

  let compressed = idat[0];
  if (idat.length > 1) {
    compressed = new Uint8Array(idatBytes);
    let o = 0;
    for (const part of idat) {
      compressed.set(part, o);
      o += part.length;
    }
  }

  const channels = PNG_COLOR_TYPES[colorType].channels;
  const bitsPerPixel = channels * bitDepth;
  const passes = ihdr.interlaced ? ADAM7 : [[0, 0, 1, 1]];
  let expected = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw > 0 && ph > 0) expected += ph * (1 + Math.ceil((pw * bitsPerPixel) / 8));
  }

  let raw: Uint8Array;
  try {
    // The cap stops a few kilobytes of deflate from expanding without bound; output chunks of the
    // expected size save the growing and joining of 16 KiB ones (4.6 → 3.2 ms on a 900×900 frame).
    raw = inflateSync(compressed, {
      maxOutputLength: expected,
      chunkSize: Math.max(64, Math.min(expected, INFLATE_CHUNK_LIMIT)),
    });
  } catch (e) {
    const reason = (e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE"
      ? `more data than ${width}×${height} needs`
      : (e as Error).message;
    throw new ImageError(`PNG image data is corrupt or truncated: ${reason}`, { cause: e });
  }
  if (raw.length < expected) {
    throw new ImageError(`PNG image data is truncated: ${raw.length} of ${expected} bytes`);
  }

  const bpp = Math.max(1, bitsPerPixel >> 3);
  const fast = !ihdr.interlaced && colorType === 2 && bitDepth === 8;
  const layout = new WasmLayout();
  const rawAt = layout.take(raw.length);
  const maxRowBytes = Math.ceil((width * bitsPerPixel) / 8);
  // The common camera case unfilters straight into the output image: its rows are the RGB rows.
  const outAt = fast ? layout.take(width * height * 3) : 0;
  const rowAt = [layout.take(maxRowBytes), layout.take(maxRowBytes)];
  const { heap, run } = pngKernelsOnce().reserve(layout.size);
  heap.set(raw, rawAt);

  if (fast) {
    const rowBytes = width * 3;
    heap.fill(0, rowAt[0], rowAt[0] + rowBytes);
    for (let y = 0; y < height; y++) {
      const curAt = outAt + y * rowBytes;
      const priorAt = y === 0 ? rowAt[0] : curAt - rowBytes;
      const at = rawAt + y * (rowBytes + 1);
      if (heap[at] === 4 && y + 1 < height && heap[at + rowBytes + 1] === 4) {
        run.paeth2(at + 1, at + rowBytes + 2, priorAt, rowAt[1], curAt + rowBytes, rowBytes, bpp);
        heap.copyWithin(curAt, rowAt[1], rowAt[1] + rowBytes);
        y++;
      } else {
        unfilterRow(heap, run, at, curAt, priorAt, rowBytes, bpp);
      }
    }
    return { width, height, data: heap.slice(outAt, outAt + width * height * 3) };
  }

  const out = new Uint8Array(width * height * 3);
  let offset = rawAt;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const rowBytes = Math.ceil((pw * bitsPerPixel) / 8);
    let [curAt, priorAt] = rowAt;
    heap.fill(0, priorAt, priorAt + rowBytes);
    for (let py = 0; py < ph; py++) {
      unfilterRow(heap, run, offset, curAt, priorAt, rowBytes, bpp);
      offset += rowBytes + 1;
      const y = y0 + py * dy;
      rowToRgb(heap.subarray(curAt, curAt + rowBytes), pw, ihdr, palette, out, (y * width + x0) * 3, dx * 3);
      [curAt, priorAt] = [priorAt, curAt];
    }
  }
  return { width, height, data: out };
}

/**
 * Reverses one row's PNG filter in kernel memory: the filter byte at `at`, the filtered bytes after it,
 * the result to `cur`, given the unfiltered row above at `prior`.
 */
function unfilterRow(
  heap: Uint8Array,
  run: Record<string, WasmKernel>,
  at: number,
  cur: number,
  prior: number,
  rowBytes: number,
  bpp: number,
): void {
  const filter = heap[at];
  const src = at + 1;
  switch (filter) {
    case 0:
      heap.copyWithin(cur, src, src + rowBytes);
      break;
    case 1:
      for (let i = 0; i < bpp; i++) heap[cur + i] = heap[src + i];
      for (let i = bpp; i < rowBytes; i++) heap[cur + i] = heap[src + i] + heap[cur + i - bpp];
      break;
    case 2:
      for (let i = 0; i < rowBytes; i++) heap[cur + i] = heap[src + i] + heap[prior + i];
      break;
    case 3:
      for (let i = 0; i < bpp; i++) heap[cur + i] = heap[src + i] + (heap[prior + i] >> 1);
      for (let i = bpp; i < rowBytes; i++) {
        heap[cur + i] = heap[src + i] + ((heap[cur + i - bpp] + heap[prior + i]) >> 1);
      }
      break;
    case 4:
      run.paeth(src, prior, cur, rowBytes, bpp);
      break;
    default:
      throw new ImageError(`PNG image data is corrupt: unknown row filter ${filter}`);
  }
}

/**
 * One Paeth step in kernel text: with the pixel above in `$b`, the left and upper-left pixels in
 * `$a{row}`/`$c{row}`, predicts whichever of a, b, c is nearest to a + b - c (ties in that order),
 * adds the filtered bytes at `$raw{row} + $i` and stores the pixel at `$cur{row} + $i`. A pixel (up to
 * 8 bytes) sits in i16 lanes; `bitselect` keeps the choice free of branches.
 */
function paethStep(row: string): string {
  return `
    local.get $b local.get $c${row} i16x8.sub local.tee $d i16x8.abs local.set $pa ;; |b - c|
    local.get $a${row} local.get $c${row} i16x8.sub local.tee $e i16x8.abs local.set $pb ;; |a - c|
    local.get $d local.get $e i16x8.add i16x8.abs local.set $pc ;; |a + b - 2c|
    local.get $a${row}
    local.get $b local.get $c${row} local.get $pb local.get $pc i16x8.le_s v128.bitselect
    local.get $pa local.get $pb local.get $pc i16x8.min_s i16x8.le_s
    v128.bitselect
    local.get $raw${row} local.get $i i32.add v128.load64_zero i16x8.extend_low_i8x16_u
    i16x8.add local.get $mask v128.and local.set $a${row} ;; also the next pixel's left neighbour
    local.get $cur${row} local.get $i i32.add
    local.get $a${row} local.get $a${row} i8x16.narrow_i16x8_u v128.store64_lane 0
    local.get $b local.set $c${row}
  `;
}

/**
 * Paeth un-filtering of one row. Each pixel waits on the one before, so a row is latency-bound
 * (≈ 10 dependent vector operations a pixel) whatever the width of the vectors.
 */
const PAETH_KERNEL = `
  i32.const 0 i32x4.splat local.tee $a1 local.set $c1
  i32.const 255 i16x8.splat local.set $mask
  loop
    local.get $prior local.get $i i32.add v128.load64_zero i16x8.extend_low_i8x16_u local.set $b
    ${paethStep("1")}
    local.get $i local.get $bpp i32.add local.tee $i
    local.get $rowBytes i32.lt_s br_if 0
  end
`;

/**
 * Paeth un-filtering of two consecutive rows in one pass: the second row's "above" is the first
 * row's pixel just made, so the two dependency chains interleave and a pixel pair costs little more
 * than one pixel did (saves ≈ 0.8 ms on a 900×900 frame). The first row's 8-byte stores spill past its end,
 * so it must not sit right before the second row: callers give it a row of its own.
 */
const PAETH2_KERNEL = `
  i32.const 0 i32x4.splat local.tee $a1 local.tee $c1 local.tee $a2 local.set $c2
  i32.const 255 i16x8.splat local.set $mask
  loop
    local.get $prior local.get $i i32.add v128.load64_zero i16x8.extend_low_i8x16_u local.set $b
    ${paethStep("1")}
    local.get $a1 local.set $b
    ${paethStep("2")}
    local.get $i local.get $bpp i32.add local.tee $i
    local.get $rowBytes i32.lt_s br_if 0
  end
`;

let pngKernels: WasmKernels | undefined;

function pngKernelsOnce(): WasmKernels {
  const vectors = (...names: string[]) => Object.fromEntries(names.map((n) => [n, "v128" as const]));
  return pngKernels ??= new WasmKernels([
    {
      name: "paeth",
      params: ["raw1", "prior", "cur1", "rowBytes", "bpp"],
      locals: { i: "i32", ...vectors("a1", "c1", "b", "d", "e", "pa", "pb", "pc", "mask") },
      body: PAETH_KERNEL,
    },
    {
      name: "paeth2",
      params: ["raw1", "raw2", "prior", "cur1", "cur2", "rowBytes", "bpp"],
      locals: { i: "i32", ...vectors("a1", "c1", "a2", "c2", "b", "d", "e", "pa", "pb", "pc", "mask") },
      body: PAETH2_KERNEL,
    },
  ]);
}

/** Converts `count` unfiltered pixels to RGB8, writing every `stride` bytes from `out[at]`. */
function rowToRgb(
  row: Uint8Array,
  count: number,
  ihdr: Ihdr,
  palette: Uint8Array | undefined,
  out: Uint8Array,
  at: number,
  stride: number,
): void {
  const { bitDepth, colorType } = ihdr;
  let o = at;
  if (bitDepth < 8) {
    const mask = (1 << bitDepth) - 1;
    // PIL expands grey 1/2/4-bit samples to the full 0..255 range (0/255, ×85, ×17).
    const scale = colorType === 0 ? 255 / mask : 1;
    for (let i = 0; i < count; i++) {
      const bit = i * bitDepth;
      const v = (row[bit >> 3] >> (8 - bitDepth - (bit & 7))) & mask;
      if (colorType === 3) {
        const p = v * 3;
        out[o] = palette![p];
        out[o + 1] = palette![p + 1];
        out[o + 2] = palette![p + 2];
      } else {
        out[o] = out[o + 1] = out[o + 2] = v * scale;
      }
      o += stride;
    }
    return;
  }
  // 16-bit samples are big-endian; the high byte is the 8-bit value (PIL's RGB;16B does the same).
  const bytesPerSample = bitDepth >> 3;
  switch (colorType) {
    case 0:
    case 4: {
      const step = bytesPerSample * (colorType === 0 ? 1 : 2);
      for (let i = 0, s = 0; i < count; i++, s += step) {
        out[o] = out[o + 1] = out[o + 2] = row[s];
        o += stride;
      }
      break;
    }
    case 2:
    case 6: {
      const step = bytesPerSample * (colorType === 2 ? 3 : 4);
      for (let i = 0, s = 0; i < count; i++, s += step) {
        out[o] = row[s];
        out[o + 1] = row[s + bytesPerSample];
        out[o + 2] = row[s + 2 * bytesPerSample];
        o += stride;
      }
      break;
    }
    case 3:
      for (let i = 0; i < count; i++) {
        const p = row[i] * 3;
        out[o] = palette![p];
        out[o + 1] = palette![p + 1];
        out[o + 2] = palette![p + 2];
        o += stride;
      }
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// JPEG

/** The shape of imagescript's WebAssembly JPEG module (untyped JavaScript in the package). */
interface JpegWasm {
  init(): Promise<JpegCodec>;
}

interface JpegCodec {
  /** `format`: 0 grey, 1 RGB, 2 CMYK; `buffer` holds the samples interleaved. */
  decode(data: Uint8Array): { width: number; height: number; format: number; buffer: Uint8Array };
}

let jpegCodec: Promise<JpegCodec> | undefined;

/**
 * A JPEG codec instance whose memory grew past this for one image is not kept (the compiled module
 * is): a rare huge frame must not hold its memory for the life of the process.
 */
const RETAINED_JPEG_PIXELS = 16_000_000;

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** SOF0..SOF15 minus DHT (C4), JPG (C8) and DAC (CC), which share the range. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function readJpegHeader(bytes: Uint8Array): ImageHeader {
  let at = 2;
  while (at < bytes.length) {
    if (bytes[at] !== 0xff) {
      throw new ImageError(`JPEG is corrupt: expected a marker at byte ${at}`);
    }
    while (at < bytes.length && bytes[at] === 0xff) at++;
    if (at >= bytes.length) break;
    const marker = bytes[at++];
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9 || marker === 0xda) {
      throw new ImageError("JPEG is corrupt: no frame header (SOFn) before the image data");
    }
    if (at + 2 > bytes.length) break;
    const length = (bytes[at] << 8) | bytes[at + 1];
    if (length < 2) throw new ImageError(`JPEG is corrupt: segment length ${length} at byte ${at}`);
    if (isStartOfFrame(marker)) {
      if (at + 7 > bytes.length) break;
      const height = (bytes[at + 3] << 8) | bytes[at + 4];
      const width = (bytes[at + 5] << 8) | bytes[at + 6];
      if (width === 0 || height === 0) throw new ImageError(`JPEG has no pixels: ${width}×${height}`);
      return { format: "jpeg", width, height };
    }
    at += length;
  }
  throw new ImageError("JPEG is truncated: the data ends before the frame header (SOFn)");
}

async function decodeJpeg(bytes: Uint8Array, header: ImageHeader): Promise<Rgb8Image> {
  const codec = jpegCodec ??= (jpegWasm as unknown as JpegWasm).init();
  let decoded;
  try {
    decoded = (await codec).decode(bytes);
  } catch (e) {
    // A trap (a panic or a wild access on hostile data) leaves the instance's stack pointer and heap
    // as they were: after enough of them every JPEG, good ones too, failed with "memory access out of
    // bounds". The next frame gets a fresh instance.
    if (e instanceof WebAssembly.RuntimeError && jpegCodec === codec) jpegCodec = undefined;
    throw new ImageError(`JPEG is truncated or corrupt: ${(e as Error).message}`, { cause: e });
  }
  if (decoded.width * decoded.height > RETAINED_JPEG_PIXELS && jpegCodec === codec) jpegCodec = undefined;
  const { width, height, format, buffer } = decoded;
  if (width !== header.width || height !== header.height) {
    throw new ImageError(
      `JPEG is corrupt: the header says ${header.width}×${header.height}, the data ${width}×${height}`,
    );
  }
  const pixels = width * height;
  const channels = format === 0 ? 1 : format === 1 ? 3 : 4;
  if (buffer.length < pixels * channels) {
    throw new ImageError(`JPEG is truncated: ${buffer.length} of ${pixels * channels} decoded bytes`);
  }
  if (format === 1) {
    return { width, height, data: buffer.length === pixels * 3 ? buffer : buffer.slice(0, pixels * 3) };
  }
  const out = new Uint8Array(pixels * 3);
  if (format === 0) {
    for (let i = 0, o = 0; i < pixels; i++, o += 3) out[o] = out[o + 1] = out[o + 2] = buffer[i];
  } else {
    // jpeg-decoder undoes Adobe's inversion, so this is ink-positive CMYK; the arithmetic is PIL's
    // cmyk2rgb (nk - C·nk/255 with MULDIV255's rounding).
    for (let i = 0, s = 0, o = 0; i < pixels; i++, s += 4, o += 3) {
      const nk = 255 - buffer[s + 3];
      out[o] = nk - muldiv255(buffer[s], nk);
      out[o + 1] = nk - muldiv255(buffer[s + 1], nk);
      out[o + 2] = nk - muldiv255(buffer[s + 2], nk);
    }
  }
  return { width, height, data: out };
}

function muldiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

function describeStart(bytes: Uint8Array): string {
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return `${bytes.length} bytes starting ${head}`;
}
