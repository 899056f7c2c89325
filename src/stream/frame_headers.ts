/**
 * A frame's headers, read so that no header can cost the frame its answer. nats.js parses
 * `msg.headers` lazily and throws on a header name it refuses (`Camera Serial: 42`, a non-ASCII
 * name: other clients send them); and its `get` matches names exactly, so a camera sending
 * `adp-frame-id` would lose its id. Here the header block is read with nats.js when it can, from
 * the raw bytes when it cannot, and names are matched ignoring case, as MIME and NATS servers do.
 * The values are then parsed as the contract says (a frame id, a capture time) or set aside.
 *
 * @module
 */
import type { Msg } from "@nats-io/transport-node";
import { Header } from "./subjects.ts";

/** What intake reads from a frame's headers; each field is the raw value, unchecked. */
export interface FrameHeaderValues {
  /** The `Adp-Frame-Id` header (any case), when present. */
  frameId?: string;
  /** The `Adp-Captured-At` header (any case), when present. */
  capturedAt?: string;
  /** Why the header block could not be read with nats.js (it was read from the raw bytes instead). */
  malformed?: string;
}

/** The fields nats.js keeps the raw message in (not public API: used only when `headers` throws). */
interface RawMsg {
  _rdata?: Uint8Array;
  _msg?: { hdr?: number };
}

const WANTED: Record<string, "frameId" | "capturedAt"> = {
  [Header.frameId.toLowerCase()]: "frameId",
  [Header.capturedAt.toLowerCase()]: "capturedAt",
};

/**
 * The frame id and capture time headers of a message, in any letter case; never throws.
 *
 * @param msg a frame as received
 * @returns the raw header values found, and whether the block was malformed
 */
export function readFrameHeaders(msg: Msg): FrameHeaderValues {
  let pairs: Iterable<[string, string[]]>;
  let malformed: string | undefined;
  try {
    const headers = msg.headers;
    if (!headers) return {};
    pairs = headers;
  } catch (error) {
    malformed = error instanceof Error ? error.message : String(error);
    pairs = rawHeaderPairs(msg as unknown as RawMsg);
  }
  const out: FrameHeaderValues = malformed ? { malformed } : {};
  for (const [name, values] of pairs) {
    const field = WANTED[name.toLowerCase()];
    if (field && out[field] === undefined && values.length) out[field] = values[0];
  }
  return out;
}

/**
 * Name/value pairs of the raw `NATS/1.0` header block: one `name: value` per line, a line without a
 * colon skipped, names as sent (any bytes but the colon), values trimmed.
 */
export function parseHeaderBlock(block: Uint8Array): [string, string[]][] {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(block);
  const pairs: [string, string[]][] = [];
  for (const line of text.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    pairs.push([line.slice(0, colon).trim(), [line.slice(colon + 1).trim()]]);
  }
  return pairs;
}

function rawHeaderPairs(msg: RawMsg): [string, string[]][] {
  const data = msg._rdata;
  const length = msg._msg?.hdr;
  if (!(data instanceof Uint8Array) || typeof length !== "number" || length <= 0) return [];
  return parseHeaderBlock(data.subarray(0, Math.min(length, data.length)));
}

/** Frame ids: printable ASCII without spaces, up to 128 characters. */
export const FRAME_ID_REGEXP: RegExp = /^[\x21-\x7e]{1,128}$/;

const RFC3339_REGEXP = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const EPOCH_MS_REGEXP = /^\d{1,16}$/;

/** The frame id header when usable, else undefined (the service then makes one up). */
export function parseFrameId(value: string | null | undefined): string | undefined {
  return value && FRAME_ID_REGEXP.test(value) ? value : undefined;
}

/**
 * The capture time header (RFC 3339 or epoch milliseconds) as RFC 3339 in UTC; null when absent
 * or unreadable.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(parseCapturedAt("1700000000000"), "2023-11-14T22:13:20.000Z");
 * strictEqual(parseCapturedAt("2024-05-01T08:00:00+02:00"), "2024-05-01T06:00:00.000Z");
 * strictEqual(parseCapturedAt("yesterday"), null);
 * ```
 */
export function parseCapturedAt(value: string | null | undefined): string | null {
  if (!value) return null;
  let ms: number;
  if (EPOCH_MS_REGEXP.test(value)) ms = Number(value);
  else if (RFC3339_REGEXP.test(value)) ms = Date.parse(value);
  else return null;
  if (!Number.isFinite(ms)) return null;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
