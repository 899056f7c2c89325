/**
 * Base64 of bytes (JSR's @std/encoding cannot be reached here; node's Buffer does it).
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** The standard base64 text of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
