/**
 * Writing the safetensors format: the header computed from the shapes first, then each tensor
 * converted to its dtype in small chunks and appended, so that peak memory is one tensor; the file
 * appears atomically.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { WeightsError } from "../errors.ts";
import { f32ToBF16, f32ToF16 } from "./float16.ts";
import {
  byteSwap,
  type FloatDtype,
  HOST_IS_LITTLE_ENDIAN,
  METADATA_KEY,
  numel,
  SAFETENSORS_DTYPES,
} from "./safetensors.ts";

/** One tensor to write. `data` may be a function so that big checkpoints never sit in memory whole. */
export interface TensorToWrite {
  /** The tensor's name in the header. */
  readonly name: string;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** The stored float type. */
  readonly dtype: FloatDtype;
  /** The float32 values, row-major, or a function that makes them when the tensor's turn comes. */
  readonly data: Float32Array | (() => Float32Array | Promise<Float32Array>);
}

/** Options of {@linkcode writeSafetensors}. */
export interface WriteSafetensorsOptions {
  /** Stored as `__metadata__`. @default {} */
  metadata?: Record<string, string>;
}

/** Elements converted per write so that converting an F16 checkpoint needs only a small buffer. */
const WRITE_CHUNK_ELEMENTS = 1 << 20;

/**
 * Writes tensors to a safetensors file, converting float32 data to the requested dtype with
 * round-to-nearest-even. The header is computed from the shapes first; then each tensor's data is
 * obtained (a function is called only when its turn comes), converted in small chunks and
 * appended, so peak memory is one tensor. The file appears atomically: it is written beside the
 * target and renamed.
 *
 * @param path the target file; replaced if it exists
 * @param tensors written in this order
 * @param opts `metadata` for `__metadata__`
 * @throws {WeightsError} when a name repeats or a tensor's data length disagrees with its shape
 *
 * @example Writing F16
 * ```ts
 * import { openSafetensors } from "./safetensors.ts";
 * import { writeSafetensors } from "./safetensors_writer.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, [
 *   { name: "w", shape: [2, 2], dtype: "F16", data: () => new Float32Array([1, 2, 3, 4]) },
 * ], { metadata: { format: "pt" } });
 * using st = await openSafetensors(path);
 * if (st.header.get("w")?.dtype !== "F16" || st.metadata.format !== "pt") throw new Error("Unexpected header");
 * await Deno.remove(path);
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  opts: WriteSafetensorsOptions = {},
): Promise<void> {
  const header: Record<string, unknown> = {};
  if (opts.metadata && Object.keys(opts.metadata).length > 0) header[METADATA_KEY] = { ...opts.metadata };
  let offset = 0;
  for (const t of tensors) {
    if (t.name === METADATA_KEY || Object.hasOwn(header, t.name)) {
      throw new WeightsError(`Cannot write ${path}: tensor name "${t.name}" is repeated or reserved`, {
        file: path,
        tensor: t.name,
      });
    }
    if (!(t.dtype === "F32" || t.dtype === "F16" || t.dtype === "BF16")) {
      throw new WeightsError(`Cannot write ${path}: tensor "${t.name}" has unsupported dtype ${t.dtype}`, {
        file: path,
        tensor: t.name,
      });
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new WeightsError(
        `Cannot write ${path}: tensor "${t.name}" has invalid shape ${JSON.stringify(t.shape)}`,
        {
          file: path,
          tensor: t.name,
        },
      );
    }
    const bytes = numel(t.shape) * SAFETENSORS_DTYPES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let headerJson = JSON.stringify(header);
  // Padding with spaces (allowed by the format) keeps the data section 8-byte aligned for mmap readers.
  const headerBytesLen = new TextEncoder().encode(headerJson).length;
  headerJson += " ".repeat((8 - ((8 + headerBytesLen) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(headerJson);

  const tmp = join(dirname(path), `.${crypto.randomUUID()}.safetensors.tmp`);
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    const lenBytes = new Uint8Array(8);
    new DataView(lenBytes.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
    await _writeAll(file, lenBytes);
    await _writeAll(file, headerBytes);
    for (const t of tensors) {
      const data = typeof t.data === "function" ? await t.data() : t.data;
      const n = numel(t.shape);
      if (!(data instanceof Float32Array) || data.length !== n) {
        throw new WeightsError(
          `Cannot write ${path}: tensor "${t.name}" has ${
            data instanceof Float32Array ? data.length : "non-Float32Array"
          } values but shape ${JSON.stringify(t.shape)} needs ${n}`,
          { file: path, tensor: t.name },
        );
      }
      await _writeTensor(file, data, t.dtype);
    }
    // Durable before it becomes visible: a crash after the rename must not expose a file whose
    // blocks never reached the disk (station profiles rely on this).
    await file.sync();
    file.close();
    await Deno.rename(tmp, path);
  } catch (err) {
    try {
      file.close();
    } catch {
      // Already closed after the last write; the rename failed instead.
    }
    await Deno.remove(tmp).catch(() => undefined);
    throw err;
  }
}

async function _writeTensor(file: Deno.FsFile, data: Float32Array, dtype: FloatDtype): Promise<void> {
  const chunk = Math.min(WRITE_CHUNK_ELEMENTS, data.length);
  const half = dtype === "F32" ? undefined : new Uint16Array(chunk);
  for (let start = 0; start < data.length; start += chunk) {
    const part = data.subarray(start, Math.min(start + chunk, data.length));
    let bytes: Uint8Array;
    let itemSize: number;
    if (dtype === "F32") {
      bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
      itemSize = 4;
    } else {
      const out = half!.subarray(0, part.length);
      if (dtype === "F16") f32ToF16(part, out);
      else f32ToBF16(part, out);
      bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      itemSize = 2;
    }
    if (!HOST_IS_LITTLE_ENDIAN) {
      bytes = bytes.slice();
      byteSwap(bytes, itemSize);
    }
    await _writeAll(file, bytes);
  }
}

async function _writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}
