/**
 * JPEG through imagescript's WebAssembly decoder (jpeg-decoder 0.1.22), called directly because
 * `Image.decode` spends two thirds of its time repacking RGB to RGBA one pixel at a time (≈ 51 →
 * 18 ms); it is not bit-identical to PIL's libjpeg, a level or two here and there. Grey is
 * replicated to three channels and CMYK converted as PIL does.
 *
 * @module
 */
import jpegWasm from "imagescript/wasm/node/jpeg.js";
import { ImageError } from "../errors.ts";
import type { Rgb8Image } from "./rgb8_image.ts";

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

/** Whether the bytes start with a JPEG start-of-image marker. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** SOF0..SOF15 minus DHT (C4), JPG (C8) and DAC (CC), which share the range. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** The size announced by the frame header (SOFn), found by walking the segments. */
export function readJpegSize(bytes: Uint8Array): { width: number; height: number } {
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
      return { width, height };
    }
    at += length;
  }
  throw new ImageError("JPEG is truncated: the data ends before the frame header (SOFn)");
}

/** Decodes a JPEG to RGB8, checking the result against the size its header announced. */
export async function decodeJpeg(
  bytes: Uint8Array,
  header: { width: number; height: number },
): Promise<Rgb8Image> {
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
