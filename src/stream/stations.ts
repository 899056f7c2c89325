/**
 * What the processor knows of each station: its scorer, why its profile was refused, its counters,
 * and the frames waiting for a decode worker. Intake, batcher, publisher and the endpoints all read
 * the same table, so a profile swapped in by enrollment is seen by the next frame.
 *
 * @module
 */
import type { StationProfile } from "../adp/mod.ts";
import type { DecodeCost, ImageHeader } from "../image/mod.ts";
import type { ProfileListReply } from "./messages.ts";
import { reason } from "./profile_store.ts";
import { ScorerSlot } from "./scorer_slot.ts";
import { type ProcessorTelemetry, StationStats } from "./station_stats.ts";

/** When and as what a frame arrived: enough to answer it even when it is never decoded. */
export interface FrameRef {
  /** The camera's `Adp-Frame-Id`, or one the service made up. */
  frameId: string;
  /** The `Adp-Captured-At` header as RFC 3339, null when absent or unreadable. */
  capturedAt: string | null;
  /** `performance.now()` at receipt, for the latency. */
  receivedAt: number;
  /** Receipt time as RFC 3339, for the result. */
  receivedIso: string;
  /** A frame from the JetStream frame stream: what its answer must carry and do once published. */
  durable?: DurableDelivery;
}

/** A durable frame's delivery (`durable_frames.ts`). */
export interface DurableDelivery {
  /** Acknowledges the frame; called once its answer is published. */
  settle(): void;
  /** Hands the frame back unanswered (the service is stopping): the stream delivers it again at once. */
  release(): void;
  /** The answer's `Nats-Msg-Id`: the same on a redelivery, so the result stream keeps one per frame. */
  resultId: string;
}

/** A frame admitted for scoring: our own copy of its bytes and its checked header. */
export interface Frame extends FrameRef {
  /** The station it came from. */
  station: string;
  /** The encoded frame (PNG or JPEG). */
  bytes: Uint8Array;
  /** Its header, read and checked against the limits on intake. */
  header: ImageHeader;
  /** What decoding it costs, from its header (checked against the limit on intake). */
  cost: DecodeCost;
}

/** One station's state in the processor. */
export interface Station {
  /** The station id (valid: checked on intake). */
  id: string;
  /** The scorer in force; swapped without waiting for batches that still use the old one. */
  slot: ScorerSlot;
  /** Why the station's stored profile was refused; null when it was not. */
  profileError: string | null;
  /** Counters and latencies for the status endpoint. */
  stats: StationStats;
  /** Frames waiting for a decode worker, oldest first. */
  queue: Frame[];
  /** Frames of this station in the decode workers now (bounded, so one station cannot hold them all). */
  decoding: number;
  /** Digest of the bytes of each recent anomalous frame id (to tell a reused id from a retry). */
  eventDigests?: Map<string, string>;
  /** Set while its profile, evicted from memory, is loaded again: its frames wait for it. */
  loading?: Promise<void>;
}

/** What is still known of a station forgotten with a profile on disk: its meta, or why it was refused. */
export type ParkedProfile = { meta: StationProfile["meta"]; error: null } | { meta: null; error: string };

/** The stations seen so far, by id. */
export class StationTable {
  readonly #stations = new Map<string, Station>();
  /** Stations forgotten while their profile stays on disk: loaded again on their next frame. */
  readonly #parked = new Map<string, ParkedProfile>();
  readonly #log: (line: string) => void;
  readonly #telemetry: ProcessorTelemetry | undefined;
  #evicted = 0;

  /**
   * An empty table.
   *
   * @param log where a scorer that fails to dispose is reported
   * @param telemetry where the stations' latencies are also reported
   */
  constructor(log: (line: string) => void, telemetry?: ProcessorTelemetry) {
    this.#log = log;
    this.#telemetry = telemetry;
  }

  /** Stations tracked. */
  get size(): number {
    return this.#stations.size;
  }

  /** The station, when it is tracked. */
  get(id: string): Station | undefined {
    return this.#stations.get(id);
  }

  /**
   * The station, tracked from now on when it was not and there is room: at `limit` stations the
   * longest idle one that holds nothing is forgotten (no profile, no frame waiting or decoding, not
   * `busy`; its counters go, its files stay); when every one has a profile, the longest idle one
   * whose scorer no batch holds is forgotten the same way, its scorer disposed and its profile left
   * on disk ({@linkcode parked}). Undefined when every tracked station is in use.
   *
   * @param id the station
   * @param limit stations tracked at most
   * @param busy whether a station is in use elsewhere (an enrollment job, a profile change)
   */
  admit(id: string, limit: number, busy: (station: Station) => boolean): Station | undefined {
    const known = this.#stations.get(id);
    if (known) {
      // Most recently seen last: the first idle one found is the longest idle.
      this.#stations.delete(id);
      this.#stations.set(id, known);
      return known;
    }
    // A loop: the profiles loaded at start may fill the table past the limit.
    while (this.#stations.size >= limit) {
      const idle = this.#findIdle(busy);
      if (!idle) return undefined;
      this.#evict(idle);
    }
    return this.getOrAdd(id);
  }

  /** Whether a new station could be tracked now (see {@linkcode admit}). */
  hasRoomFor(id: string, limit: number, busy: (station: Station) => boolean): boolean {
    return this.#stations.has(id) || this.#stations.size < limit || this.#findIdle(busy) !== undefined;
  }

  /** Stations forgotten so far to make room for new ones (with or without a profile). */
  get evicted(): number {
    return this.#evicted;
  }

  /** Stations forgotten with their profile on disk, not loaded now. */
  get parked(): ReadonlyMap<string, ParkedProfile> {
    return this.#parked;
  }

  /**
   * Keeps a station's profile on disk only, as if it had been evicted: loaded on its next frame.
   * For the profiles found at start beyond the table's limit.
   */
  park(id: string, parked: ParkedProfile): void {
    this.#parked.set(id, parked);
  }

  /**
   * Takes `id` out of the parked stations (its profile was loaded again, changed or deleted);
   * whether it was parked.
   */
  unpark(id: string): boolean {
    return this.#parked.delete(id);
  }

  #evict(station: Station): void {
    this.#stations.delete(station.id);
    const meta = station.slot.current?.profile.meta;
    if (meta) this.#parked.set(station.id, { meta, error: null });
    else if (station.profileError) this.#parked.set(station.id, { meta: null, error: station.profileError });
    // No batch holds it (see #findIdle): its memory goes back now.
    station.slot.swap(undefined);
    this.#evicted++;
  }

  /** The longest idle station without a profile, else the longest idle one with a profile. */
  #findIdle(busy: (station: Station) => boolean): Station | undefined {
    let withProfile: Station | undefined;
    for (const s of this.#stations.values()) {
      if (s.queue.length || s.decoding || s.loading || s.slot.held || busy(s)) continue;
      if (!s.slot.current && !s.profileError) return s;
      withProfile ??= s;
    }
    return withProfile;
  }

  /** The station, tracked from now on when it was not (a parked one stays parked: see {@linkcode unpark}). */
  getOrAdd(id: string): Station {
    let station = this.#stations.get(id);
    if (!station) {
      station = {
        id,
        slot: new ScorerSlot((error) => this.#log(`warning: scorer of ${id} not disposed: ${reason(error)}`)),
        profileError: null,
        stats: new StationStats(id, this.#telemetry),
        queue: [],
        decoding: 0,
      };
      this.#stations.set(id, station);
    }
    return station;
  }

  /** Every tracked station, in the order first seen. */
  values(): IterableIterator<Station> {
    return this.#stations.values();
  }

  /** The `profiles.list` reply: every station's profile in force or parked, or why its file was refused. */
  profileList(): ProfileListReply {
    const profiles = [];
    const refused = [];
    const known = [...this.values()].map((s) => ({
      id: s.id,
      meta: s.slot.current?.profile.meta,
      error: s.profileError,
    }));
    for (const [id, p] of this.#parked) known.push({ id, meta: p.meta ?? undefined, error: p.error });
    for (const { id, meta, error } of known) {
      if (meta) {
        profiles.push({
          station: id,
          version: meta.version,
          threshold: meta.threshold,
          createdAt: meta.createdAt,
          label: meta.label ?? null,
          shots: meta.enrollment.shots,
          model: { id: meta.model.id, hash: meta.model.hash },
        });
      } else if (error) {
        refused.push({ station: id, error });
      }
    }
    profiles.sort((a, b) => a.station.localeCompare(b.station));
    return { profiles, refused };
  }
}
