/**
 * The safetensors format and its reader: an 8-byte little-endian header length, a JSON header
 * (name → dtype, shape, data offsets, plus an optional `__metadata__` of strings), then the raw
 * little-endian tensor bytes. Checkpoints reach several gigabytes, so the reader validates the whole
 * header before allocating anything and then reads one tensor at a time at its offset. The writer,
 * which streams tensor by tensor, is in `safetensors_writer.ts`; the float16 and bfloat16
 * conversions in `float16.ts`.
 *
 * @module
 */
import { ErrorCode, ShapeError, WeightsError } from "../errors.ts";
import { bf16ToF32, f16ToF32 } from "./float16.ts";
import type { FloatTensor } from "./weights.ts";

/** Every dtype the safetensors format defines, with its size in bytes. */
export const SAFETENSORS_DTYPES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

/** One of the safetensors dtype names. */
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

/** The floating-point dtypes this project writes. */
export type FloatDtype = "F32" | "F16" | "BF16";

/** One header entry, validated. */
export interface SafetensorsEntry {
  /** The stored element type. */
  readonly dtype: SafetensorsDtype;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** `[begin, end)` relative to the start of the data section, as stored. */
  readonly dataOffsets: readonly [number, number];
  /** Absolute position of the first byte in the file. */
  readonly byteOffset: number;
  /** Bytes the tensor occupies. */
  readonly byteLength: number;
}

/** A tensor in its stored integer type, or converted to float32 for float dtypes. */
export interface RawTensor {
  /** The stored element type. */
  readonly dtype: SafetensorsDtype;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** The values, row-major. */
  readonly data: Float32Array | Int32Array | BigInt64Array;
}

/** An open safetensors file. Reads may run concurrently; `close()` when done. */
export interface SafetensorsReader {
  /** The file. */
  readonly path: string;
  /** Tensor entries in file order (by data offset). */
  readonly header: ReadonlyMap<string, SafetensorsEntry>;
  /** The `__metadata__` map, empty when absent. */
  readonly metadata: Readonly<Record<string, string>>;
  /** One floating-point tensor (F32, F16, BF16 or F64) as float32. */
  read(name: string): Promise<FloatTensor>;
  /**
   * {@linkcode SafetensorsReader.read}, synchronously, through its own handle (so it never
   * interleaves with queued asynchronous reads): for lazy tensors read while a graph is written.
   */
  readSync(name: string): FloatTensor;
  /** One tensor: floats as float32, I32 as Int32Array, I64 as BigInt64Array. */
  readRaw(name: string): Promise<RawTensor>;
  /**
   * Selected slices along the first axis of a floating-point tensor, as float32, concatenated in
   * the order given, without reading the rest of the tensor.
   */
  readRows(name: string, rows: readonly number[]): Promise<Float32Array>;
  /** Closes the file; reads after it fail. */
  close(): void;
  /** Closes the file (for `using`). */
  [Symbol.dispose](): void;
}

/** Headers beyond this are refused before allocating; real CLIP headers are well under 1 MB. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** The header key of the string map that is not a tensor. */
export const METADATA_KEY = "__metadata__";
/** Whether typed arrays here are little-endian, as the format's bytes are. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Opens a safetensors file and validates its header completely: header length, JSON shape, every
 * entry's dtype, shape and offsets against the file size, the byte count of each tensor, and
 * overlaps. Nothing of the data section is read until a tensor is asked for.
 *
 * @param path the file
 * @returns a reader; call `close()` (or `using`) when done
 * @throws {WeightsError} when the file is truncated or its header is corrupt, naming file and tensor
 *
 * @example Round trip
 * ```ts
 * import { openSafetensors } from "./safetensors.ts";
 * import { writeSafetensors } from "./safetensors_writer.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, [{ name: "x", shape: [2], dtype: "F16", data: new Float32Array([1, 2]) }]);
 * using st = await openSafetensors(path);
 * const x = await st.read("x");
 * if (x.data[1] !== 2) throw new Error("Unexpected value");
 * await Deno.remove(path);
 * ```
 */
export async function openSafetensors(path: string): Promise<SafetensorsReader> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw new WeightsError(`Cannot open safetensors file ${path}: ${(err as Error).message}`, {
      file: path,
      code: err instanceof Deno.errors.NotFound ? ErrorCode.WEIGHTS_MISSING : ErrorCode.WEIGHTS_INVALID,
      cause: err,
    });
  }
  try {
    const size = (await file.stat()).size;
    if (size < 8) {
      throw new WeightsError(
        `Truncated safetensors file ${path}: ${size} bytes, shorter than the header length`,
        {
          file: path,
        },
      );
    }
    const lenBytes = new Uint8Array(8);
    await _readFully(file, 0, lenBytes, path);
    const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) {
      throw new WeightsError(
        `Corrupt safetensors file ${path}: header length ${headerLen} exceeds the limit of ${MAX_HEADER_BYTES} bytes`,
        { file: path },
      );
    }
    const n = Number(headerLen);
    if (n < 2 || 8 + n > size) {
      throw new WeightsError(
        `Corrupt safetensors file ${path}: header length ${n} does not fit in a file of ${size} bytes`,
        { file: path },
      );
    }
    const headerBytes = new Uint8Array(n);
    await _readFully(file, 8, headerBytes, path);
    const { header, metadata } = _parseHeader(headerBytes, path, 8 + n, size - 8 - n);
    return new SafetensorsReaderImpl(path, file, header, metadata);
  } catch (err) {
    file.close();
    throw err;
  }
}

function _parseHeader(
  bytes: Uint8Array,
  path: string,
  dataStart: number,
  dataLength: number,
): { header: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new WeightsError(`Corrupt safetensors file ${path}: header is not valid JSON`, {
      file: path,
      cause: err,
    });
  }
  if (!_isPlainObject(json)) {
    throw new WeightsError(`Corrupt safetensors file ${path}: header is not a JSON object`, { file: path });
  }
  const metadata: Record<string, string> = {};
  const entries: [string, SafetensorsEntry][] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === METADATA_KEY) {
      if (!_isPlainObject(value) || Object.values(value).some((v) => typeof v !== "string")) {
        throw new WeightsError(`Corrupt safetensors file ${path}: __metadata__ is not a map of strings`, {
          file: path,
        });
      }
      Object.assign(metadata, value);
      continue;
    }
    entries.push([name, _parseEntry(name, value, path, dataStart, dataLength)]);
  }
  entries.sort((a, b) => a[1].byteOffset - b[1].byteOffset || a[1].byteLength - b[1].byteLength);
  let prev: [string, SafetensorsEntry] | undefined;
  for (const entry of entries) {
    if (entry[1].byteLength === 0) continue;
    if (prev && prev[1].byteOffset + prev[1].byteLength > entry[1].byteOffset) {
      throw new WeightsError(
        `Corrupt safetensors file ${path}: tensor "${entry[0]}" overlaps tensor "${prev[0]}"`,
        { file: path, tensor: entry[0] },
      );
    }
    prev = entry;
  }
  return { header: new Map(entries), metadata };
}

function _parseEntry(
  name: string,
  value: unknown,
  path: string,
  dataStart: number,
  dataLength: number,
): SafetensorsEntry {
  const fail = (detail: string): never => {
    throw new WeightsError(`Corrupt safetensors file ${path}: tensor "${name}" ${detail}`, {
      file: path,
      tensor: name,
    });
  };
  if (!_isPlainObject(value)) return fail("has no entry object");
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string" || !Object.hasOwn(SAFETENSORS_DTYPES, dtype)) {
    return fail(`has unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    return fail(`has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
  ) {
    return fail(`has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const itemSize = SAFETENSORS_DTYPES[dtype as SafetensorsDtype];
  let expected = itemSize;
  for (const d of shape as number[]) expected *= d;
  if (!Number.isSafeInteger(expected)) {
    return fail(`has a shape too large to address ${JSON.stringify(shape)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataLength) {
    return fail(`ends at byte ${end} but the data section holds ${dataLength} bytes (truncated file)`);
  }
  if (end - begin !== expected) {
    return fail(
      `holds ${end - begin} bytes but shape ${JSON.stringify(shape)} of ${dtype} needs ${expected}`,
    );
  }
  return {
    dtype: dtype as SafetensorsDtype,
    shape: Object.freeze([...shape as number[]]),
    dataOffsets: Object.freeze([begin, end] as [number, number]),
    byteOffset: dataStart + begin,
    byteLength: end - begin,
  };
}

function _isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

async function _readFully(file: Deno.FsFile, position: number, dst: Uint8Array, path: string): Promise<void> {
  await file.seek(position, Deno.SeekMode.Start);
  let done = 0;
  while (done < dst.length) {
    const n = await file.read(dst.subarray(done));
    if (n === null) {
      throw new WeightsError(
        `Truncated safetensors file ${path}: end of file at byte ${position + done}, expected ${
          dst.length - done
        } more`,
        { file: path },
      );
    }
    done += n;
  }
}

function readFullySync(file: Deno.FsFile, position: number, dst: Uint8Array, path: string): void {
  file.seekSync(position, Deno.SeekMode.Start);
  let done = 0;
  while (done < dst.length) {
    const n = file.readSync(dst.subarray(done));
    if (n === null) throw truncatedAt(path, position + done, dst.length - done);
    done += n;
  }
}

function truncatedAt(path: string, at: number, missing: number): WeightsError {
  return new WeightsError(
    `Truncated safetensors file ${path}: end of file at byte ${at}, expected ${missing} more`,
    { file: path },
  );
}

/**
 * Where a float tensor's stored bytes are read to, and their widening to float32. Half-width data
 * goes into the upper half of the output and is widened in place, front to back: element i is read
 * before its 4 bytes overwrite anything still unread. This halves the memory a multi-gigabyte load
 * allocates.
 */
function floatLanding(
  dtype: "F32" | "F16" | "BF16" | "F64",
  count: number,
): { bytes: Uint8Array; widen(): Float32Array } {
  if (dtype === "F64") {
    const bytes = new Uint8Array(count * 8);
    return { bytes, widen: () => Float32Array.from(new Float64Array(bytes.buffer)) };
  }
  const out = new Float32Array(count);
  if (dtype === "F32") return { bytes: new Uint8Array(out.buffer), widen: () => out };
  const bits = new Uint16Array(out.buffer, 2 * count, count);
  return {
    bytes: new Uint8Array(out.buffer, 2 * count, 2 * count),
    widen: () => dtype === "F16" ? f16ToF32(bits, out) : bf16ToF32(bits, out),
  };
}

/** Reverses the bytes of each `itemSize`-byte item in place (for big-endian hosts). */
export function byteSwap(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

class SafetensorsReaderImpl implements SafetensorsReader {
  readonly path: string;
  readonly header: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  #file: Deno.FsFile;
  #closed = false;
  // One handle serves every read; seek+read pairs must not interleave.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    path: string,
    file: Deno.FsFile,
    header: Map<string, SafetensorsEntry>,
    metadata: Record<string, string>,
  ) {
    this.path = path;
    this.#file = file;
    this.header = header;
    this.metadata = Object.freeze(metadata);
  }

  async read(name: string): Promise<FloatTensor> {
    const entry = this.#floatEntry(name);
    return { shape: entry.shape, data: await this.#readFloat(name, entry, 0, numel(entry.shape)) };
  }

  readSync(name: string): FloatTensor {
    const entry = this.#floatEntry(name);
    if (this.#closed) throw this.#closedError(name);
    const dtype = entry.dtype as "F32" | "F16" | "BF16" | "F64";
    const landing = floatLanding(dtype, numel(entry.shape));
    using file = Deno.openSync(this.path, { read: true });
    try {
      readFullySync(file, entry.byteOffset, landing.bytes, this.path);
    } catch (err) {
      throw err instanceof WeightsError ? this.#truncated(name, err) : err;
    }
    if (!HOST_IS_LITTLE_ENDIAN) byteSwap(landing.bytes, SAFETENSORS_DTYPES[dtype]);
    return { shape: entry.shape, data: landing.widen() };
  }

  async readRaw(name: string): Promise<RawTensor> {
    const entry = this.#entry(name);
    const itemSize = SAFETENSORS_DTYPES[entry.dtype];
    if (_isFloat(entry.dtype)) {
      const data = await this.#readFloat(name, entry, 0, numel(entry.shape));
      return { dtype: entry.dtype, shape: entry.shape, data };
    }
    if (entry.dtype === "I32" || entry.dtype === "I64") {
      const bytes = new Uint8Array(entry.byteLength);
      await this.#readBytes(name, entry.byteOffset, bytes, itemSize);
      const data = entry.dtype === "I32" ? new Int32Array(bytes.buffer) : new BigInt64Array(bytes.buffer);
      return { dtype: entry.dtype, shape: entry.shape, data };
    }
    throw new WeightsError(`Unsupported dtype in ${this.path}: tensor "${name}" is ${entry.dtype}`, {
      file: this.path,
      tensor: name,
    });
  }

  async readRows(name: string, rows: readonly number[]): Promise<Float32Array> {
    const entry = this.#entry(name);
    if (!_isFloat(entry.dtype) || entry.shape.length === 0) {
      throw new WeightsError(
        `Cannot read rows of tensor "${name}" in ${this.path}: it is a ${entry.shape.length}-d ${entry.dtype} tensor`,
        { file: this.path, tensor: name },
      );
    }
    const count = entry.shape[0];
    const rowElements = entry.shape.slice(1).reduce((a, b) => a * b, 1);
    const out = new Float32Array(rows.length * rowElements);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!Number.isInteger(r) || r < 0 || r >= count) {
        throw new ShapeError(`Row index out of range for tensor "${name}": ${r} not in [0, ${count})`);
      }
      out.set(await this.#readFloat(name, entry, r * rowElements, rowElements), i * rowElements);
    }
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #entry(name: string): SafetensorsEntry {
    const entry = this.header.get(name);
    if (!entry) {
      throw new WeightsError(`Missing tensor in ${this.path}: "${name}"`, {
        file: this.path,
        tensor: name,
        code: ErrorCode.WEIGHTS_MISSING,
      });
    }
    return entry;
  }

  #floatEntry(name: string): SafetensorsEntry {
    const entry = this.#entry(name);
    if (!_isFloat(entry.dtype)) {
      throw new WeightsError(
        `Tensor "${name}" in ${this.path} is ${entry.dtype}, not a floating-point tensor`,
        { file: this.path, tensor: name },
      );
    }
    return entry;
  }

  #closedError(name: string): WeightsError {
    return new WeightsError(`Cannot read tensor "${name}": ${this.path} is closed`, {
      file: this.path,
      tensor: name,
    });
  }

  #truncated(name: string, cause: WeightsError): WeightsError {
    return new WeightsError(`Truncated safetensors file ${this.path}: tensor "${name}" is cut short`, {
      file: this.path,
      tensor: name,
      cause,
    });
  }

  /** `count` elements from element `start` of a float tensor, as float32. */
  async #readFloat(
    name: string,
    entry: SafetensorsEntry,
    start: number,
    count: number,
  ): Promise<Float32Array> {
    const dtype = entry.dtype as "F32" | "F16" | "BF16" | "F64";
    const itemSize = SAFETENSORS_DTYPES[dtype];
    const position = entry.byteOffset + start * itemSize;
    const landing = floatLanding(dtype, count);
    await this.#readBytes(name, position, landing.bytes, itemSize);
    return landing.widen();
  }

  #readBytes(name: string, position: number, dst: Uint8Array, itemSize: number): Promise<void> {
    const job = this.#queue.then(async () => {
      if (this.#closed) throw this.#closedError(name);
      try {
        await _readFully(this.#file, position, dst, this.path);
      } catch (err) {
        throw err instanceof WeightsError ? this.#truncated(name, err) : err;
      }
      if (!HOST_IS_LITTLE_ENDIAN && itemSize > 1) byteSwap(dst, itemSize);
    });
    this.#queue = job.catch(() => undefined);
    return job;
  }
}

function _isFloat(dtype: SafetensorsDtype): dtype is "F32" | "F16" | "BF16" | "F64" {
  return dtype === "F32" || dtype === "F16" || dtype === "BF16" || dtype === "F64";
}

/** The number of elements of a tensor of `shape`. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
