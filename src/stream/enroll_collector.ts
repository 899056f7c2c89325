/**
 * An enrollment's shots when the request names no frames: the station's next frames, taken from a
 * subscription of the job's own, outside the queue group (the instances of a group split a
 * station's frames between them, and the enrolling one must see all of them). A frame intake would
 * refuse before decoding (empty, no image header) is not a shot; a repeated frame id counts once.
 *
 * @module
 */
import { type Msg, type NatsConnection, nuid } from "@nats-io/transport-node";
import { readImageHeader } from "../image/mod.ts";
import { parseFrameId, readFrameHeaders } from "./frame_headers.ts";
import { framesSubject } from "./subjects.ts";

/** What a collection is told. */
export interface CollectOptions {
  /** How many frames. */
  shots: number;
  /** How long to wait for them. */
  timeoutMs: number;
  /** Ends the collection early (a cancel, a stop), failing with the signal's reason. */
  signal: AbortSignal;
  /** Called with the count after each frame taken. */
  onFrame(count: number): void;
}

/** The next `opts.shots` frames of `station`'s camera. */
export function collectNextFrames(
  nc: NatsConnection,
  station: string,
  opts: CollectOptions,
): Promise<Uint8Array[]> {
  const { shots, timeoutMs, signal } = opts;
  return new Promise<Uint8Array[]>((resolve, reject) => {
    const frames: Uint8Array[] = [];
    const ids = new Set<string>();
    const take = (msg: Msg) => {
      if (!msg.data.length || !hasImageHeader(msg.data)) return;
      const frameId = parseFrameId(readFrameHeaders(msg).frameId) ?? nuid.next();
      if (ids.has(frameId) || frames.length >= shots) return;
      ids.add(frameId);
      frames.push(msg.data.slice());
      opts.onFrame(frames.length);
      if (frames.length >= shots) finish();
    };
    const tap = nc.subscribe(framesSubject(station), { callback: (_e, m) => take(m) });
    const finish = (error?: Error) => {
      clearTimeout(timer);
      tap.unsubscribe();
      signal.removeEventListener("abort", onAbort);
      if (error) reject(error);
      else resolve(frames);
    };
    const onAbort = () => finish(new Error(String(signal.reason)));
    const timer = setTimeout(() =>
      finish(
        new Error(
          `Collected ${frames.length} of ${shots} frames of ${station} in ${
            Math.round(timeoutMs / 1000)
          } s: is its camera publishing?`,
        ),
      ), timeoutMs);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function hasImageHeader(bytes: Uint8Array): boolean {
  try {
    readImageHeader(bytes);
    return true;
  } catch {
    return false;
  }
}
