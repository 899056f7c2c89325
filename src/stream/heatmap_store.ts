/**
 * Where heat-map PNGs are kept: the object store bucket with JetStream, else
 * `<stateDir>/heatmaps/<station>/`. Each station keeps at most a number of heat maps and of bytes
 * (its own limits or the defaults); the oldest go first, the newest always stays. What is held is
 * read from the store on a station's first heat map, so a restart counts what the last run left.
 *
 * @module
 */
import { join } from "node:path";
import { createHash } from "node:crypto";
import type { ObjectStore } from "@nats-io/obj";
import type { HeatmapRef } from "./messages.ts";
import { JetStreamName } from "./subjects.ts";

/** How much of a station's heat maps is kept. */
export interface HeatmapLimits {
  /** Heat maps kept at most. */
  count: number;
  /** Bytes of PNG kept at most (the newest stays even when it alone is larger). */
  bytes: number;
}

/** Retention of heat maps: defaults and per-station overrides. */
export interface HeatmapRetention {
  /** Heat maps kept per station. @default 200 */
  count?: number;
  /** PNG bytes kept per station. @default 256 MiB */
  bytes?: number;
  /** A station's own limits, over the defaults. */
  stations?: Record<string, Partial<HeatmapLimits>>;
}

/** What a station holds in the store. */
export interface HeatmapUsage {
  /** Heat maps stored. */
  count: number;
  /** Their PNG bytes. */
  bytes: number;
}

/** The default limits of a station. */
export const DEFAULT_HEATMAP_LIMITS: HeatmapLimits = { count: 200, bytes: 256 * 1024 * 1024 };

/**
 * A station's limits: its own, else the retention's defaults, else {@linkcode DEFAULT_HEATMAP_LIMITS}.
 *
 * @param retention the configured retention
 * @param station the station id
 * @returns the limits in force for it
 *
 * @example A station's own count over the default bytes
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const r = { bytes: 1000, stations: { a: { count: 3 } } };
 * deepStrictEqual(limitsOf(r, "a"), { count: 3, bytes: 1000 });
 * ```
 */
export function limitsOf(retention: HeatmapRetention | undefined, station: string): HeatmapLimits {
  const own = retention?.stations?.[station];
  return {
    count: own?.count ?? retention?.count ?? DEFAULT_HEATMAP_LIMITS.count,
    bytes: own?.bytes ?? retention?.bytes ?? DEFAULT_HEATMAP_LIMITS.bytes,
  };
}

/** Options of {@linkcode HeatmapStore}. */
export interface HeatmapStoreOptions {
  /** Heat maps go under `<stateDir>/heatmaps/<station>` when there is no bucket. */
  stateDir: string;
  /** With JetStream: the bucket they go to instead. */
  bucket?: ObjectStore;
  /** Limits per station. */
  retention?: HeatmapRetention;
}

interface Entry {
  name: string;
  bytes: number;
}

/** Stores heat maps and keeps every station within its limits. */
export class HeatmapStore {
  readonly #opts: HeatmapStoreOptions;
  /** Per station: what is stored, oldest first. */
  readonly #held = new Map<string, Entry[]>();
  /** Per station: the last put, so a station's puts and evictions run one at a time. */
  readonly #chains = new Map<string, Promise<unknown>>();

  /** @param opts where heat maps go and how many are kept */
  constructor(opts: HeatmapStoreOptions) {
    this.#opts = opts;
  }

  /**
   * Stores a station's heat map under `name` (a second put of a name replaces the first), then
   * removes the station's oldest until it is within its limits.
   *
   * @param station the station id
   * @param name the event's storage name (the frame id, or the id with a digest)
   * @param png the PNG and its size
   * @returns where it went
   */
  put(
    station: string,
    name: string,
    png: { png: Uint8Array; width: number; height: number },
  ): Promise<HeatmapRef> {
    const run = (this.#chains.get(station) ?? Promise.resolve()).catch(() => {}).then(() =>
      this.#put(station, name, png)
    );
    this.#chains.set(station, run);
    return run;
  }

  /** What each station holds (stations that stored heat maps since start). */
  usage(): Map<string, HeatmapUsage> {
    const out = new Map<string, HeatmapUsage>();
    for (const [station, entries] of this.#held) {
      out.set(station, { count: entries.length, bytes: entries.reduce((n, e) => n + e.bytes, 0) });
    }
    return out;
  }

  async #put(
    station: string,
    name: string,
    png: { png: Uint8Array; width: number; height: number },
  ): Promise<HeatmapRef> {
    const common = { width: png.width, height: png.height, contentType: "image/png" as const };
    const bucket = this.#opts.bucket;
    const dir = join(this.#opts.stateDir, "heatmaps", station);
    let held = this.#held.get(station);
    if (held === undefined) {
      held = bucket ? await bucketEntries(bucket, station) : await dirEntries(dir);
      this.#held.set(station, held);
    }
    let ref: HeatmapRef;
    let entryName: string;
    if (bucket) {
      entryName = `${station}/${name}.png`;
      await bucket.putBlob({ name: entryName }, png.png);
      ref = { store: "object-store", bucket: JetStreamName.heatmapBucket, key: entryName, ...common };
    } else {
      entryName = `${fileSafe(name)}.png`;
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeFile(join(dir, entryName), png.png);
      ref = { store: "file", key: join("heatmaps", station, entryName), ...common };
    }
    const again = held.findIndex((e) => e.name === entryName);
    if (again !== -1) held.splice(again, 1);
    held.push({ name: entryName, bytes: png.png.length });
    await this.#evict(station, held, dir);
    return ref;
  }

  /** Removes the oldest heat maps until the station is within its limits (the newest always stays). */
  async #evict(station: string, held: Entry[], dir: string): Promise<void> {
    const limits = limitsOf(this.#opts.retention, station);
    let bytes = held.reduce((n, e) => n + e.bytes, 0);
    while (held.length > 1 && (held.length > limits.count || bytes > limits.bytes)) {
      const oldest = held.shift()!;
      bytes -= oldest.bytes;
      if (this.#opts.bucket) await this.#opts.bucket.delete(oldest.name).catch(() => {});
      else await Deno.remove(join(dir, oldest.name)).catch(() => {});
    }
  }
}

/**
 * A frame id as a file name (a heat map's, `heatmaps/<station>/<name>.png`): itself when harmless,
 * else its hash (ids are the camera's, not ours).
 */
export function fileSafe(frameId: string): string {
  if (/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(frameId)) return frameId;
  return createHash("sha256").update(frameId).digest("hex").slice(0, 32);
}

/** The PNGs a previous run left in `dir`, oldest first. */
async function dirEntries(dir: string): Promise<Entry[]> {
  const files: (Entry & { mtime: number })[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !e.name.endsWith(".png")) continue;
      const info = await Deno.stat(join(dir, e.name)).catch(() => null);
      if (info) files.push({ name: e.name, bytes: info.size, mtime: info.mtime?.getTime() ?? 0 });
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return files.sort((a, b) => a.mtime - b.mtime).map(({ name, bytes }) => ({ name, bytes }));
}

/** The station's heat maps in the bucket (other instances' too), oldest first. */
async function bucketEntries(bucket: ObjectStore, station: string): Promise<Entry[]> {
  const prefix = `${station}/`;
  const infos = (await bucket.list()).filter((i) => !i.deleted && i.name.startsWith(prefix));
  return infos
    .sort((a, b) => Date.parse(a.mtime) - Date.parse(b.mtime))
    .map((i) => ({ name: i.name, bytes: i.size }));
}
