/**
 * Cuts a byte stream of concatenated JPEG images (ffmpeg's `image2pipe` with the `mjpeg` encoder) into
 * whole images: each starts at a start-of-image marker (FF D8) and ends at the end-of-image marker
 * (FF D9) that follows it. Inside entropy-coded data a literal FF byte is always stuffed (FF 00), so
 * FF D9 occurs only at the end of an image; ffmpeg's encoder writes no EXIF thumbnails whose own
 * markers could nest. Bytes before a start marker (a torn image after a reconnect) are skipped.
 *
 * @module
 */

const MARKER = 0xff;
const SOI = 0xd8;
const EOI = 0xd9;

/** Options of {@linkcode JpegSplitter}. */
export interface JpegSplitterOptions {
  /**
   * An image growing past this many bytes is dropped whole (counted in
   * {@linkcode JpegSplitter.oversized}) instead of being buffered without end.
   * @default 64 MiB
   */
  maxImageBytes?: number;
}

/**
 * Splits concatenated JPEG images out of the chunks of a pipe.
 *
 * @example Two images in three chunks
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { JpegSplitter } from "./jpeg_splitter.ts";
 *
 * const splitter = new JpegSplitter();
 * const a = [0xff, 0xd8, 1, 2, 0xff, 0xd9];
 * const b = [0xff, 0xd8, 3, 0xff, 0x00, 0xff, 0xd9];
 * const stream = new Uint8Array([...a, ...b]);
 * const out = [
 *   ...splitter.push(stream.subarray(0, 4)),
 *   ...splitter.push(stream.subarray(4, 9)),
 *   ...splitter.push(stream.subarray(9)),
 * ];
 * deepStrictEqual(out.map((x) => [...x]), [a, b]);
 * ```
 */
export class JpegSplitter {
  #buffer: Uint8Array = new Uint8Array(0);
  #length = 0;
  /** Where the scan for the next marker resumes. */
  #scan = 0;
  /** Whether the buffer starts with a start-of-image marker. */
  #inImage = false;
  readonly #maxImageBytes: number;
  /** Images dropped for being larger than `maxImageBytes`. */
  oversized = 0;
  /** Bytes skipped outside any image. */
  skippedBytes = 0;

  /** @param opts the size bound of one image */
  constructor(opts: JpegSplitterOptions = {}) {
    this.#maxImageBytes = opts.maxImageBytes ?? 64 * 1024 * 1024;
  }

  /**
   * Adds a chunk; returns the images it completed (fresh copies, safe to keep).
   *
   * @param chunk bytes read from the pipe
   * @returns whole JPEG images, in order
   */
  push(chunk: Uint8Array): Uint8Array[] {
    this.#append(chunk);
    const images: Uint8Array[] = [];
    while (true) {
      if (!this.#inImage && !this.#findStart()) break;
      const end = this.#findEnd();
      if (end < 0) {
        if (this.#length > this.#maxImageBytes) {
          this.oversized++;
          this.#drop(this.#length);
          this.#inImage = false;
        }
        break;
      }
      images.push(this.#buffer.slice(0, end));
      this.#drop(end);
      this.#inImage = false;
    }
    return images;
  }

  /** Forgets a partial image (the pipe closed or the source restarted). */
  reset(): void {
    this.#length = 0;
    this.#scan = 0;
    this.#inImage = false;
  }

  #append(chunk: Uint8Array): void {
    if (this.#length + chunk.length > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(this.#length + chunk.length, this.#buffer.length * 2, 65536));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(chunk, this.#length);
    this.#length += chunk.length;
  }

  /** Moves a start marker to the front of the buffer; false when none is there yet. */
  #findStart(): boolean {
    const b = this.#buffer;
    for (let i = 0; i + 1 < this.#length; i++) {
      if (b[i] === MARKER && b[i + 1] === SOI) {
        this.skippedBytes += i;
        this.#drop(i);
        this.#inImage = true;
        this.#scan = 2;
        return true;
      }
    }
    // Keep a trailing FF: it may be the first half of a marker.
    const keep = this.#length > 0 && b[this.#length - 1] === MARKER ? 1 : 0;
    this.skippedBytes += this.#length - keep;
    this.#drop(this.#length - keep);
    return false;
  }

  /** The end of the image at the front (just past FF D9), or -1. */
  #findEnd(): number {
    const b = this.#buffer;
    for (let i = this.#scan; i + 1 < this.#length; i++) {
      if (b[i] === MARKER && b[i + 1] === EOI) return i + 2;
    }
    this.#scan = Math.max(2, this.#length - 1);
    return -1;
  }

  #drop(n: number): void {
    if (n <= 0) return;
    this.#buffer.copyWithin(0, n, this.#length);
    this.#length -= n;
    this.#scan = 2;
  }
}
