/**
 * The last frames of each station, kept (encoded) so an enrollment request can name frames it has
 * already seen. Bounded per station by count and in total by bytes: the oldest frame anywhere goes
 * first when the total is exceeded, so many stations cannot exhaust memory.
 *
 * @module
 */

interface Entry {
  station: string;
  frameId: string;
  bytes: Uint8Array;
}

/** Options of {@linkcode FrameRing}. */
export interface FrameRingOptions {
  /** Frames kept per station. @default 16 */
  perStation?: number;
  /** Bytes kept in all. @default 256 MiB */
  totalBytes?: number;
}

/** Recent frames per station. */
export class FrameRing {
  readonly #perStation: number;
  readonly #totalBytes: number;
  readonly #byStation = new Map<string, Entry[]>();
  /** Every entry oldest first, for global eviction. */
  #order: Entry[] = [];
  #bytes = 0;

  /**
   * An empty ring.
   *
   * @param opts per-station count and total byte bounds */
  constructor(opts: FrameRingOptions = {}) {
    this.#perStation = opts.perStation ?? 16;
    this.#totalBytes = opts.totalBytes ?? 256 * 1024 * 1024;
  }

  /** Keeps a frame, evicting the station's oldest beyond the count and the oldest anywhere beyond the bytes. */
  add(station: string, frameId: string, bytes: Uint8Array): void {
    if (this.#perStation <= 0 || bytes.length > this.#totalBytes) return;
    const entry = { station, frameId, bytes };
    const same = this.#byStation.get(station)?.find((e) => e.frameId === frameId);
    if (same) this.#evict(same);
    const list = this.#byStation.get(station) ?? [];
    this.#byStation.set(station, list);
    list.push(entry);
    this.#order.push(entry);
    this.#bytes += bytes.length;
    if (list.length > this.#perStation) this.#evict(list[0]);
    while (this.#bytes > this.#totalBytes && this.#order.length) this.#evict(this.#order[0]);
  }

  /** The frames with these ids, in the order asked, and the ids no longer (or never) held. */
  find(station: string, frameIds: readonly string[]): { frames: Uint8Array[]; missing: string[] } {
    const list = this.#byStation.get(station) ?? [];
    const frames: Uint8Array[] = [];
    const missing: string[] = [];
    for (const id of frameIds) {
      const e = list.find((x) => x.frameId === id);
      if (e) frames.push(e.bytes);
      else missing.push(id);
    }
    return { frames, missing };
  }

  /** Frames held for `station`. */
  count(station: string): number {
    return this.#byStation.get(station)?.length ?? 0;
  }

  #evict(entry: Entry): void {
    const list = this.#byStation.get(entry.station);
    if (list) {
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      if (!list.length) this.#byStation.delete(entry.station);
    }
    const j = this.#order.indexOf(entry);
    if (j >= 0) {
      this.#order.splice(j, 1);
      this.#bytes -= entry.bytes.length;
    }
  }
}
