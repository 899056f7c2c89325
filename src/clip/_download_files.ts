/**
 * The local side of a download: file sizes, checksums of what is on disk, appending, removing a
 * partial file.
 *
 * @module
 */
import { createHash } from "node:crypto";

const READ_CHUNK = 1 << 20;

/** The hex digest of a file: sha256 of its bytes, or git's blob sha1 (`"blob <size>\0"` + bytes). */
export async function fileChecksum(path: string, kind: "sha256" | "git-sha1", size: number): Promise<string> {
  const hash = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git-sha1") hash.update(`blob ${size}\0`);
  using f = await Deno.open(path, { read: true });
  const buf = new Uint8Array(READ_CHUNK);
  for (;;) {
    const n = await f.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

/** Writes all of `data` to `file`. */
export async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  for (let written = 0; written < data.byteLength;) {
    written += await file.write(data.subarray(written));
  }
}

/** The size of a regular file, or undefined when there is none. */
export async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.isFile ? info.size : undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Removes a file unless it is already gone. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
