/**
 * The console's picture of the plant, kept from the bus: it follows every station's frames,
 * results and anomaly events, asks the service for its status every few seconds (stations,
 * profile versions, thresholds; no answer means the service is down) and fetches a station's
 * profile when its version changes (the heat-map scale needs its calibration). Listeners hear of
 * every change; the SSE layer coalesces them.
 *
 * @module
 */
import type { Subscription } from "@nats-io/transport-node";
import {
  ANOMALIES_WILDCARD,
  type BusConnection,
  decodeAnomaly,
  decodeResult,
  FRAMES_WILDCARD,
  Header,
  isStationId,
  RESULTS_WILDCARD,
  SubjectPrefix,
} from "../stream/mod.ts";
import { type AnomalyPoint, type ResultPoint, StationState, type StationTile } from "./station_state.ts";
import { gatherStatus, getProfile, listProfiles } from "./service_client.ts";
import { type HeatScale, heatScaleOf } from "./heat_scale.ts";

/** What a listener hears. */
export type BoardEvent =
  | { type: "result"; station: string; data: ResultPoint }
  | { type: "anomaly"; station: string; data: AnomalyPoint }
  | { type: "station"; station: string };

/** Options of {@linkcode StationBoard}. */
export interface StationBoardOptions {
  /** How often the service's status is asked. @default 2000 */
  statusEveryMs?: number;
  /** Silence after which a station's frames count as stopped. @default 10000 */
  staleMs?: number;
  /** Where problems are reported. @default console.error */
  log?: (line: string) => void;
}

/** Most stations tracked (frames naming more are ignored). */
const MAX_STATIONS = 256;

/** Every station the console has heard of, live. */
export class StationBoard {
  readonly #nc: BusConnection;
  readonly #stations = new Map<string, StationState>();
  readonly #scales = new Map<string, { version: number; scale: HeatScale | null }>();
  readonly #listeners = new Set<(e: BoardEvent) => void>();
  readonly #subs: Subscription[] = [];
  readonly #opts: Required<StationBoardOptions>;
  #timer: ReturnType<typeof setInterval> | undefined;
  #serviceUp = true;
  #polling: Promise<void> = Promise.resolve();

  /** A board on `nc`; {@linkcode start} begins following. */
  constructor(nc: BusConnection, opts: StationBoardOptions = {}) {
    this.#nc = nc;
    this.#opts = {
      statusEveryMs: opts.statusEveryMs ?? 2000,
      staleMs: opts.staleMs ?? 10_000,
      log: opts.log ?? ((line) => console.error(line)),
    };
  }

  /** Subscribes and starts polling the service's status. */
  async start(): Promise<void> {
    this.#subs.push(this.#nc.subscribe(FRAMES_WILDCARD, { callback: (_e, m) => this.#onFrame(m) }));
    this.#subs.push(this.#nc.subscribe(RESULTS_WILDCARD, { callback: (_e, m) => this.#onResult(m.data) }));
    this.#subs.push(this.#nc.subscribe(ANOMALIES_WILDCARD, { callback: (_e, m) => this.#onAnomaly(m.data) }));
    await this.#nc.flush();
    await this.poll();
    this.#timer = setInterval(() => {
      this.#polling = this.poll();
    }, this.#opts.statusEveryMs);
  }

  /** Stops following. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    for (const s of this.#subs) s.unsubscribe();
    await this.#polling;
  }

  /** Hears every change; returns the function that stops listening. */
  listen(fn: (e: BoardEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Whether the service answered the last status request. */
  get serviceUp(): boolean {
    return this.#serviceUp;
  }

  /** A station's state, if known. */
  station(id: string): StationState | undefined {
    return this.#stations.get(id);
  }

  /** A station's heat-map scale (null before its profile is known). */
  scale(id: string): HeatScale | null {
    return this.#scales.get(id)?.scale ?? null;
  }

  /** Every tile, by station id. */
  tiles(now = Date.now()): StationTile[] {
    const opts = { serviceUp: this.#serviceUp, staleMs: this.#opts.staleMs };
    return [...this.#stations.values()].sort((a, b) => a.id.localeCompare(b.id)).map((s) =>
      s.tile(now, opts)
    );
  }

  /** Asks every instance for its status and updates stations, versions and thresholds. */
  async poll(): Promise<void> {
    const replies = await gatherStatus(this.#nc);
    const wasUp = this.#serviceUp;
    this.#serviceUp = replies.length > 0;
    for (const reply of replies) {
      for (const s of reply.stations) {
        const state = this.#state(s.station);
        if (!state) continue;
        // The scale first: a page that sees the new version on a tile reloads and must get its scale.
        if (s.profileVersion !== null) await this.#refreshScale(s.station, s.profileVersion);
        const changed = state.statusVersion !== s.profileVersion || state.statusThreshold !== s.threshold ||
          state.enrolling !== s.enrolling;
        state.statusVersion = s.profileVersion;
        state.statusThreshold = s.threshold;
        state.enrolling = s.enrolling;
        if (changed) this.#emit({ type: "station", station: s.station });
      }
    }
    if (wasUp !== this.#serviceUp) {
      for (const id of this.#stations.keys()) this.#emit({ type: "station", station: id });
    }
  }

  /** Stations with a profile that no instance has seen frames of yet still get a tile. */
  async #addProfiled(): Promise<void> {
    try {
      for (const p of (await listProfiles(this.#nc)).profiles) {
        if (this.#stations.has(p.station)) continue;
        const state = this.#state(p.station);
        if (!state) continue;
        state.statusVersion = p.version;
        state.statusThreshold = p.threshold;
        this.#emit({ type: "station", station: p.station });
      }
    } catch (error) {
      this.#opts.log(`console: profiles unavailable: ${(error as Error).message}`);
    }
  }

  async #refreshScale(station: string, version: number): Promise<void> {
    if (this.#scales.get(station)?.version === version) return;
    try {
      const { meta } = await getProfile(this.#nc, station);
      this.#scales.set(station, { version, scale: heatScaleOf(meta) });
    } catch (error) {
      this.#opts.log(`console: profile of ${station} unavailable: ${(error as Error).message}`);
      this.#scales.set(station, { version, scale: null });
    }
  }

  #state(id: string): StationState | undefined {
    let s = this.#stations.get(id);
    if (!s && isStationId(id) && this.#stations.size < MAX_STATIONS) {
      s = new StationState(id);
      this.#stations.set(id, s);
    }
    return s;
  }

  #onFrame(m: { subject: string; data: Uint8Array; headers?: { get(k: string): string } }): void {
    const id = m.subject.slice(SubjectPrefix.frames.length + 1);
    const frameId = m.headers?.get(Header.frameId);
    // Frames without an id cannot be matched to their result: the service makes one up.
    if (!frameId || !m.data.length) return;
    this.#state(id)?.frame(frameId, m.data, Date.now());
  }

  #onResult(data: Uint8Array): void {
    try {
      const r = decodeResult(data);
      const s = this.#state(r.station);
      if (s) this.#emit({ type: "result", station: s.id, data: s.result(r, Date.now()) });
    } catch (error) {
      this.#opts.log(`console: unreadable result: ${(error as Error).message}`);
    }
  }

  #onAnomaly(data: Uint8Array): void {
    try {
      const a = decodeAnomaly(data);
      const s = this.#state(a.station);
      if (s) this.#emit({ type: "anomaly", station: s.id, data: s.anomaly(a, Date.now()) });
    } catch (error) {
      this.#opts.log(`console: unreadable anomaly event: ${(error as Error).message}`);
    }
  }

  #emit(e: BoardEvent): void {
    for (const fn of this.#listeners) fn(e);
  }
}
