/**
 * Hostile images made on the spot, for the soak and the tests: a JPEG whose one scan is repeated
 * many times (each scan is decoded again: seconds of work from a few hundred KB), and a PNG of
 * huge dimensions and 16-bit RGBA samples whose all-zero rows deflate to almost nothing.
 *
 * @module
 */
import { concatBytes } from "../../src/bytes.ts";
import { createDeflate } from "node:zlib";
import { Image } from "imagescript";

/** A baseline JPEG of `side`×`side` whose scan is repeated `scans` times in all. */
export async function scanBombJpeg(side: number, scans: number): Promise<Uint8Array> {
  const img = new Image(side, side).fill(0x808080ff);
  const src = await img.encodeJPEG(80);
  let sos = -1;
  for (let i = 0; i + 1 < src.length; i++) if (src[i] === 0xff && src[i + 1] === 0xda) sos = i;
  const scan = src.subarray(sos, src.length - 2);
  const out = new Uint8Array(sos + scan.length * scans + 2);
  out.set(src.subarray(0, sos));
  for (let i = 0; i < scans; i++) out.set(scan, sos + i * scan.length);
  out.set([0xff, 0xd9], out.length - 2);
  return out;
}

/** A `side`×`side` 16-bit RGBA PNG of zeros: a few hundred KB that inflate to 8 bytes a pixel. */
export async function pngBomb(side: number): Promise<Uint8Array> {
  const row = new Uint8Array(1 + side * 8);
  const deflate = createDeflate({ level: 9 });
  const parts: Uint8Array[] = [];
  deflate.on("data", (c: Uint8Array) => parts.push(c));
  const done = new Promise((r) => deflate.on("end", r));
  for (let y = 0; y < side; y++) {
    if (!deflate.write(row)) await new Promise((r) => deflate.once("drain", r));
  }
  deflate.end();
  await done;
  const idat = concatBytes(parts);
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, side);
  view.setUint32(4, side);
  ihdr.set([16, 6, 0, 0, 0], 8);
  return concatBytes([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", idat),
    chunk("IEND", new Uint8Array(0)),
  ]);
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

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
