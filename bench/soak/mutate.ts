/**
 * Hostile frames made from real ones: a corpus of PNG and JPEG frames from `../shared` (MVTec bottle
 * frames and masks, magnetic-tile JPEGs, the preprocessing fixtures) plus a real frame re-encoded in
 * the PNG variants cameras rarely send (palette, 1-bit, 16-bit, alpha, Adam7, every row filter) and as
 * an RGB JPEG, so that every decoder path is reached; and a seeded mutator that damages them the way
 * broken cables, cut transfers and malicious clients do: bit flips, truncations, chunk and segment
 * lengths, header dimensions, JPEG markers, zlib streams, splices of two frames.
 *
 * @module
 */
import { concatBytes } from "../../src/bytes.ts";
import { deflateSync, inflateSync } from "node:zlib";
import { join } from "node:path";
import { Image } from "imagescript";
import { decodeImage, type Rgb8Image } from "../../src/image/decode.ts";
import { Random } from "../../src/random.ts";

/** A real frame the mutator starts from. */
export interface SeedFrame {
  name: string;
  format: "png" | "jpeg";
  bytes: Uint8Array;
}

/** A mutated frame and the mutations that made it. */
export interface Mutant {
  /** Mutation names, in the order applied. */
  kinds: string[];
  /** The seed frame(s) it came from. */
  seed: string;
  bytes: Uint8Array;
}

/** How much of `../shared` the corpus takes. */
export interface CorpusOptions {
  /** The shared folder. */
  shared: string;
  /** `small`: a few frames, for tests; `full`: more of each kind, for the soak. @default "small" */
  size?: "small" | "full";
}

/**
 * Loads the seed frames: real files plus re-encodings of a crop of a real bottle frame.
 *
 * @param opts where `../shared` is, and how many frames to take
 * @returns the seeds, PNGs and JPEGs
 */
export async function loadCorpus(opts: CorpusOptions): Promise<SeedFrame[]> {
  const full = opts.size === "full";
  const seeds: SeedFrame[] = [];
  const add = async (path: string) => {
    const bytes = await Deno.readFile(join(opts.shared, path));
    seeds.push({
      name: path.split("/").slice(-2).join("/"),
      format: bytes[0] === 0x89 ? "png" : "jpeg",
      bytes,
    });
  };
  const bottles = full ? [0, 7, 19, 33] : [0];
  for (const i of bottles) await add(`datasets/mvtec-ad/bottle/train/good/${String(i).padStart(3, "0")}.png`);
  const masks = full
    ? ["broken_large/000_mask.png", "contamination/006_mask.png"]
    : ["contamination/006_mask.png"];
  for (const m of masks) await add(`datasets/mvtec-ad/bottle/ground_truth/${m}`);
  const tiles = [];
  for await (const e of Deno.readDir(join(opts.shared, "datasets/magnetic-tile/tile/test/uneven"))) {
    if (e.name.endsWith(".jpg")) tiles.push(e.name);
  }
  tiles.sort();
  for (const t of tiles.slice(0, full ? 12 : 4)) await add(`datasets/magnetic-tile/tile/test/uneven/${t}`);
  await add("fixtures/preprocess/images/4.jpg");
  await add("fixtures/preprocess/images/3.png");

  // One real frame, cropped, in every encoding the decoder has a path for.
  const frame = await decodeImage(seeds[0].bytes);
  const crop = cropRgb(frame, 300, 300, full ? 96 : 48, full ? 80 : 40);
  const rng = new Random(7);
  for (const variant of PNG_VARIANTS) {
    seeds.push({ name: `variant/${variant.name}.png`, format: "png", bytes: encodePng(crop, variant, rng) });
  }
  const image = new Image(crop.width, crop.height);
  for (let i = 0, j = 0; i < crop.width * crop.height; i++, j += 3) {
    image.bitmap.set([crop.data[j], crop.data[j + 1], crop.data[j + 2], 255], i * 4);
  }
  seeds.push({ name: "variant/rgb.jpg", format: "jpeg", bytes: await image.encodeJPEG(85) });
  return seeds;
}

/** The mutations, by name, with their weights in a draw. */
const MUTATIONS: [
  string,
  number,
  (rng: Random, bytes: Uint8Array, corpus: readonly SeedFrame[]) => Uint8Array,
][] = [
  ["bit-flip", 4, bitFlip],
  ["byte-set", 2, byteSet],
  ["truncate", 3, truncate],
  ["chunk-length", 3, chunkLength],
  ["header-dims", 3, headerDims],
  ["png-header-fields", 1, pngHeaderFields],
  ["png-chunks", 2, pngChunks],
  ["zlib", 2, zlibDamage],
  ["jpeg-marker", 3, jpegMarker],
  ["splice", 3, splice],
];
const TOTAL_WEIGHT = MUTATIONS.reduce((s, [, w]) => s + w, 0);

/**
 * One hostile frame: a seed frame with one to three mutations.
 *
 * @param rng the random source (the run is reproducible from its seed)
 * @param corpus the seed frames
 * @returns the mutant and what was done to it
 */
export function mutate(rng: Random, corpus: readonly SeedFrame[]): Mutant {
  const seed = rng.pick(corpus);
  let bytes = seed.bytes;
  const kinds: string[] = [];
  const n = rng.next() < 0.7 ? 1 : rng.int(2, 3);
  for (let i = 0; i < n; i++) {
    let r = rng.next() * TOTAL_WEIGHT;
    const m = MUTATIONS.find(([, w]) => (r -= w) < 0) ?? MUTATIONS[0];
    bytes = m[2](rng, bytes, corpus);
    kinds.push(m[0]);
  }
  return { kinds, seed: seed.name, bytes };
}

// ---------------------------------------------------------------------------------------------
// Mutations. Each returns new bytes and leaves its input alone.

/** A position, half the time inside the first 2 KiB where headers and tables live. */
function position(rng: Random, length: number): number {
  if (length === 0) return 0;
  return rng.next() < 0.5 ? rng.int(0, Math.min(length, 2048) - 1) : rng.int(0, length - 1);
}

function bitFlip(rng: Random, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  if (!out.length) return out;
  for (let i = rng.int(1, 16); i > 0; i--) out[position(rng, out.length)] ^= 1 << rng.int(0, 7);
  return out;
}

function byteSet(rng: Random, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  if (!out.length) return out;
  const values = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe];
  for (let i = rng.int(1, 8); i > 0; i--) out[position(rng, out.length)] = rng.pick(values);
  return out;
}

function truncate(rng: Random, bytes: Uint8Array): Uint8Array {
  return bytes.slice(0, position(rng, bytes.length));
}

interface Chunk {
  /** Offset of the length field. */
  at: number;
  length: number;
  type: string;
}

/** The chunks of a PNG as far as they can be walked. */
function pngChunks_(bytes: Uint8Array): Chunk[] {
  const chunks: Chunk[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    chunks.push({ at, length, type });
    if (at + 12 + length > bytes.length) break;
    at += 12 + length;
  }
  return chunks;
}

interface Segment {
  /** Offset of the 0xFF of the marker. */
  at: number;
  marker: number;
  /** Segment length (with its two length bytes); 0 for markers without one. */
  length: number;
}

/** The marker segments of a JPEG up to the first scan, and the markers inside the scan data. */
function jpegSegments(bytes: Uint8Array): Segment[] {
  const segments: Segment[] = [{ at: 0, marker: 0xd8, length: 0 }];
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1];
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    segments.push({ at, marker, length });
    at += 2 + length;
    if (marker === 0xda) break;
  }
  for (; at + 1 < bytes.length; at++) {
    if (bytes[at] === 0xff && bytes[at + 1] !== 0 && bytes[at + 1] !== 0xff) {
      segments.push({ at, marker: bytes[at + 1], length: 0 });
    }
  }
  return segments;
}

const INTERESTING_32 = [0, 1, 12, 13, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0, 65535, 65536];
const INTERESTING_16 = [0, 1, 2, 3, 0xffff, 0x8000, 0x7fff];

function chunkLength(rng: Random, bytes: Uint8Array, corpus: readonly SeedFrame[]): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  if (isPng(out)) {
    const chunks = pngChunks_(out);
    if (!chunks.length) return bitFlip(rng, out);
    const c = rng.pick(chunks);
    const choices = [
      ...INTERESTING_32,
      c.length + 1,
      Math.max(0, c.length - 1),
      c.length * 2,
      rng.int(0, 1 << 30),
    ];
    view.setUint32(c.at, rng.pick(choices) >>> 0);
    return out;
  }
  if (isJpeg(out)) {
    const segments = jpegSegments(out).filter((s) => s.length > 0);
    if (!segments.length) return bitFlip(rng, out);
    const s = rng.pick(segments);
    const choices = [...INTERESTING_16, s.length + 1, Math.max(0, s.length - 1), rng.int(0, 0xffff)];
    view.setUint16(s.at + 2, rng.pick(choices));
    return out;
  }
  return splice(rng, out, corpus);
}

function headerDims(rng: Random, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const near = (limit: number) => Math.floor(Math.sqrt(limit)) + rng.int(-2, 2);
  if (isPng(out) && out.length >= 24) {
    const pick = () =>
      rng.pick([
        0,
        1,
        2,
        3,
        30000,
        65535,
        0x7fffffff,
        0xffffffff,
        near(50_000_000),
        rng.int(1, 9000),
        rng.int(1, 64),
      ]);
    if (rng.next() < 0.7) view.setUint32(16, pick() >>> 0);
    if (rng.next() < 0.7) view.setUint32(20, pick() >>> 0);
    return out;
  }
  if (isJpeg(out)) {
    const sof = jpegSegments(out).find((s) => isStartOfFrame(s.marker) && s.at + 9 <= out.length);
    if (!sof) return bitFlip(rng, out);
    const pick = () => rng.pick([0, 1, 2, 8, 9, 30000, 65535, 7000, rng.int(1, 9000), rng.int(1, 64)]);
    if (rng.next() < 0.7) view.setUint16(sof.at + 5, pick());
    if (rng.next() < 0.7) view.setUint16(sof.at + 7, pick());
    if (rng.next() < 0.2) out[sof.at + 9] = rng.pick([0, 2, 4, 5, 255]);
    if (rng.next() < 0.2) out[sof.at + 4] = rng.pick([0, 1, 12, 16, 255]);
    return out;
  }
  return bitFlip(rng, out);
}

function pngHeaderFields(rng: Random, bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  if (!isPng(out) || out.length < 29) return bitFlip(rng, out);
  const field = rng.int(24, 28);
  out[field] = rng.pick([0, 1, 2, 3, 4, 6, 7, 8, 16, 255]);
  return out;
}

function pngChunks(rng: Random, bytes: Uint8Array, corpus: readonly SeedFrame[]): Uint8Array {
  if (!isPng(bytes)) return isJpeg(bytes) ? chunkLength(rng, bytes, corpus) : splice(rng, bytes, corpus);
  const chunks = pngChunks_(bytes).filter((c) => c.at + 12 + c.length <= bytes.length);
  if (!chunks.length) return truncate(rng, bytes);
  const parts = chunks.map((c) => bytes.subarray(c.at, c.at + 12 + c.length));
  const i = rng.int(0, parts.length - 1);
  switch (rng.int(0, 4)) {
    case 0: // drop a chunk (the IHDR, the palette, the data, the end)
      parts.splice(i, 1);
      break;
    case 1: // duplicate one
      parts.splice(i, 0, parts[i]);
      break;
    case 2: { // swap two
      const j = rng.int(0, parts.length - 1);
      [parts[i], parts[j]] = [parts[j], parts[i]];
      break;
    }
    case 3: // a palette or a header where none belongs
      parts.splice(
        i,
        0,
        chunk(rng.pick(["PLTE", "IHDR", "IDAT", "IEND", "tRNS"]), randomBytes(rng, rng.int(0, 900))),
      );
      break;
    default: { // the data split into many one-byte IDATs
      const idat = chunks.filter((c) => c.type === "IDAT");
      if (!idat.length) break;
      const data = concatBytes(idat.map((c) => bytes.subarray(c.at + 8, c.at + 8 + c.length)));
      const first = parts.findIndex((_, k) => chunks[k].type === "IDAT");
      const rest = parts.filter((_, k) => chunks[k].type !== "IDAT");
      const pieces = [];
      const step = rng.int(1, 4096);
      for (let o = 0; o < Math.min(data.length, 64 * step); o += step) {
        pieces.push(chunk("IDAT", data.subarray(o, o + step)));
      }
      if (data.length > 64 * step) pieces.push(chunk("IDAT", data.subarray(64 * step)));
      rest.splice(first, 0, ...pieces);
      return concatBytes([bytes.subarray(0, 8), ...rest]);
    }
  }
  return concatBytes([bytes.subarray(0, 8), ...parts]);
}

/** Damage inside the compressed image data, recompressed so that inflate succeeds and later stages see it. */
function zlibDamage(rng: Random, bytes: Uint8Array, corpus: readonly SeedFrame[]): Uint8Array {
  if (!isPng(bytes)) return isJpeg(bytes) ? jpegMarker(rng, bytes, corpus) : splice(rng, bytes, corpus);
  const chunks = pngChunks_(bytes).filter((c) => c.at + 12 + c.length <= bytes.length);
  const idat = chunks.filter((c) => c.type === "IDAT");
  if (!idat.length) return bitFlip(rng, bytes);
  let raw: Uint8Array;
  try {
    raw = inflateSync(concatBytes(idat.map((c) => bytes.subarray(c.at + 8, c.at + 8 + c.length))));
  } catch {
    return bitFlip(rng, bytes);
  }
  let data: Uint8Array;
  switch (rng.int(0, 4)) {
    case 0: // unknown row filters
      data = raw.slice();
      for (let i = rng.int(1, 8); i > 0; i--) data[rng.int(0, data.length - 1)] = rng.int(5, 255);
      break;
    case 1: // short by a little or a lot
      data = raw.slice(0, rng.int(0, raw.length - 1));
      break;
    case 2: // longer than the header needs (a small bomb)
      data = concatBytes([raw, new Uint8Array(rng.int(1, 4 << 20))]);
      break;
    case 3: // a raw stream where zlib is expected
      data = raw;
      return rebuildIdat(bytes, chunks, deflateSync(data).subarray(2).slice(0, -4));
    default: // fine data, flipped bits in the compressed stream
      data = raw;
      return rebuildIdat(bytes, chunks, bitFlip(rng, deflateSync(data)));
  }
  return rebuildIdat(bytes, chunks, deflateSync(data, { level: 1 }));
}

function jpegMarker(rng: Random, bytes: Uint8Array, corpus: readonly SeedFrame[]): Uint8Array {
  if (!isJpeg(bytes)) return isPng(bytes) ? zlibDamage(rng, bytes, corpus) : splice(rng, bytes, corpus);
  const segments = jpegSegments(bytes);
  const s = rng.pick(segments);
  const markers = [
    0xc0,
    0xc1,
    0xc2,
    0xc3,
    0xc4,
    0xc9,
    0xcb,
    0xd0,
    0xd7,
    0xd8,
    0xd9,
    0xda,
    0xdb,
    0xdd,
    0xe0,
    0xee,
    0xfe,
  ];
  const out = bytes.slice();
  switch (rng.int(0, 4)) {
    case 0: // another marker in its place
      if (s.at + 1 < out.length) out[s.at + 1] = rng.pick(markers);
      return out;
    case 1: // the marker removed
      return concatBytes([bytes.subarray(0, s.at), bytes.subarray(s.at + 2)]);
    case 2: { // a segment twice (two frame headers, two tables)
      const end = Math.min(bytes.length, s.at + 2 + s.length);
      return concatBytes([bytes.subarray(0, end), bytes.subarray(s.at, end), bytes.subarray(end)]);
    }
    case 3: { // a bare marker inserted somewhere in the data
      const at = rng.int(2, Math.max(2, bytes.length - 1));
      return concatBytes([
        bytes.subarray(0, at),
        new Uint8Array([0xff, rng.pick(markers)]),
        bytes.subarray(at),
      ]);
    }
    default: { // a table's contents zeroed or randomised
      const tables = segments.filter((x) => (x.marker === 0xc4 || x.marker === 0xdb) && x.length > 2);
      const t = tables.length ? rng.pick(tables) : s;
      const end = Math.min(out.length, t.at + 2 + t.length);
      if (rng.next() < 0.5) out.fill(0, t.at + 4, end);
      else out.set(randomBytes(rng, Math.max(0, end - t.at - 4)), Math.min(end, t.at + 4));
      return out;
    }
  }
}

function splice(rng: Random, bytes: Uint8Array, corpus: readonly SeedFrame[]): Uint8Array {
  const other = rng.pick(corpus).bytes;
  if (isPng(bytes) && isPng(other) && rng.next() < 0.5) {
    // The header and palette of one frame with the image data of another.
    const a = pngChunks_(bytes).filter((c) => c.at + 12 + c.length <= bytes.length);
    const b = pngChunks_(other).filter((c) => c.at + 12 + c.length <= other.length);
    const head = a.filter((c) => c.type !== "IDAT" && c.type !== "IEND");
    const data = b.filter((c) => c.type === "IDAT");
    return concatBytes([
      bytes.subarray(0, 8),
      ...head.map((c) => bytes.subarray(c.at, c.at + 12 + c.length)),
      ...data.map((c) => other.subarray(c.at, c.at + 12 + c.length)),
      chunk("IEND", new Uint8Array(0)),
    ]);
  }
  if (isJpeg(bytes) && isJpeg(other) && rng.next() < 0.5) {
    // The tables and frame header of one JPEG with the scan of another.
    const sa = jpegSegments(bytes).find((s) => s.marker === 0xda);
    const sb = jpegSegments(other).find((s) => s.marker === 0xda);
    if (sa && sb) return concatBytes([bytes.subarray(0, sa.at), other.subarray(sb.at)]);
  }
  // A cut anywhere in one joined to a cut anywhere in another (PNG head, JPEG tail and the reverse).
  return concatBytes([
    bytes.subarray(0, position(rng, bytes.length)),
    other.subarray(rng.int(0, other.length - 1)),
  ]);
}

// ---------------------------------------------------------------------------------------------
// PNG writing, for the re-encoded variants and rebuilt frames

interface PngVariant {
  name: string;
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  interlaced: boolean;
}

const PNG_VARIANTS: PngVariant[] = [
  { name: "rgb8-filters", colorType: 2, bitDepth: 8, interlaced: false },
  { name: "rgb8-adam7", colorType: 2, bitDepth: 8, interlaced: true },
  { name: "rgb16", colorType: 2, bitDepth: 16, interlaced: false },
  { name: "rgba8", colorType: 6, bitDepth: 8, interlaced: false },
  { name: "rgba16-adam7", colorType: 6, bitDepth: 16, interlaced: true },
  { name: "grey1", colorType: 0, bitDepth: 1, interlaced: false },
  { name: "grey4-adam7", colorType: 0, bitDepth: 4, interlaced: true },
  { name: "grey16", colorType: 0, bitDepth: 16, interlaced: false },
  { name: "grey-alpha8", colorType: 4, bitDepth: 8, interlaced: false },
  { name: "palette8", colorType: 3, bitDepth: 8, interlaced: false },
  { name: "palette2-adam7", colorType: 3, bitDepth: 2, interlaced: true },
];

/** Encodes RGB8 pixels as a PNG of the variant's colour type, depth and interlacing, with random row filters. */
export function encodePng(image: Rgb8Image, v: PngVariant, rng: Random): Uint8Array {
  const { width, height } = image;
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[v.colorType];
  const levels = (1 << v.bitDepth) - 1;
  const sample = (x: number, y: number, c: number): number => {
    const i = (y * width + x) * 3;
    const [r, g, b] = [image.data[i], image.data[i + 1], image.data[i + 2]];
    const grey = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    if (v.colorType === 3) return Math.min(levels, Math.round(((r >> 5) * 8 + (g >> 5)) * levels / 63));
    if (v.colorType === 0 || v.colorType === 4) {
      const value = c === 0 ? grey : 200;
      return Math.round(value * levels / 255);
    }
    const value = c < 3 ? [r, g, b][c] : 180;
    return v.bitDepth === 16 ? value * 257 : value;
  };
  const bitsPerPixel = channels * v.bitDepth;
  const passes = v.interlaced
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
    : [[0, 0, 1, 1]];
  const rows: Uint8Array[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const rowBytes = Math.ceil((pw * bitsPerPixel) / 8);
    const bpp = Math.max(1, bitsPerPixel >> 3);
    let prior = new Uint8Array(rowBytes);
    for (let py = 0; py < ph; py++) {
      const row = new Uint8Array(rowBytes);
      for (let px = 0; px < pw; px++) {
        for (let c = 0; c < channels; c++) {
          const value = sample(x0 + px * dx, y0 + py * dy, c);
          if (v.bitDepth < 8) {
            const bit = px * v.bitDepth;
            row[bit >> 3] |= value << (8 - v.bitDepth - (bit & 7));
          } else if (v.bitDepth === 8) {
            row[px * channels + c] = value;
          } else {
            row[(px * channels + c) * 2] = value >> 8;
            row[(px * channels + c) * 2 + 1] = value & 0xff;
          }
        }
      }
      const filter = rng.int(0, 4);
      rows.push(new Uint8Array([filter]), filterRow(row, prior, filter, bpp));
      prior = row;
    }
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([v.bitDepth, v.colorType, 0, 0, v.interlaced ? 1 : 0], 8);
  const parts = [PNG_SIGNATURE, chunk("IHDR", ihdr)];
  if (v.colorType === 3) {
    const palette = new Uint8Array(3 * (levels + 1));
    for (let i = 0; i <= levels; i++) {
      const code = Math.round(i * 63 / levels);
      palette.set([(code >> 3) * 36, (code & 7) * 36, 128], i * 3);
    }
    parts.push(chunk("PLTE", palette));
  }
  parts.push(chunk("IDAT", deflateSync(concatBytes(rows))), chunk("IEND", new Uint8Array(0)));
  return concatBytes(parts);
}

function filterRow(row: Uint8Array, prior: Uint8Array, filter: number, bpp: number): Uint8Array {
  const out = new Uint8Array(row.length);
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp] : 0;
    const b = prior[i];
    const c = i >= bpp ? prior[i - bpp] : 0;
    let predictor = 0;
    if (filter === 1) predictor = a;
    else if (filter === 2) predictor = b;
    else if (filter === 3) predictor = (a + b) >> 1;
    else if (filter === 4) {
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
    out[i] = (row[i] - predictor) & 0xff;
  }
  return out;
}

const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function rebuildIdat(bytes: Uint8Array, chunks: Chunk[], data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  let placed = false;
  for (const c of chunks) {
    if (c.type === "IDAT") {
      if (!placed) parts.push(chunk("IDAT", data));
      placed = true;
    } else {
      parts.push(bytes.subarray(c.at, c.at + 12 + c.length));
    }
  }
  return concatBytes(parts);
}

/** A PNG chunk with its CRC. */
function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

let crcTable: Uint32Array | undefined;

function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function randomBytes(rng: Random, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(0, 255);
  return out;
}

function cropRgb(image: Rgb8Image, x0: number, y0: number, width: number, height: number): Rgb8Image {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((y0 + y) * image.width + x0) * 3;
    data.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, data };
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}
