/**
 * The runtime every PLC bridge shares: one subscription to `adp.results.*` folded into
 * {@linkcode StationState}s, pushed to the bridge's sinks (OPC UA, Modbus) as each result arrives,
 * and a watchdog that tells the PLC when the inspection chain is down. The chain is healthy while the
 * bridge is connected to NATS, an `adp serve` instance answers its status endpoint, and every station
 * with a freshness limit has had a result recently. The heartbeat counter advances only while the
 * chain is healthy, so a PLC watching it alone fails safe when anything (this bridge included) stops.
 * Stations appear with their first result, or as soon as `adp serve`'s status reply names them.
 *
 * @module
 */
import type { MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  decodeEnrollReply,
  decodeResult,
  encodeMessage,
  Endpoint,
  type EnrollReply,
  enrollSubject,
  isStationId,
  ResultRepeats,
  RESULTS_WILDCARD,
  resultsSubject,
  serviceSubject,
  SubjectPrefix,
} from "../stream/mod.ts";
import { applyResult, emptyStationState, type StationState } from "./station_state.ts";

/** Why the chain is not healthy; all false when it is. */
export interface ChainHealth {
  /** This bridge's NATS connection is up. */
  natsConnected: boolean;
  /** An `adp serve` instance answered within `serviceTimeoutMs` (true when the check is off). */
  serviceUp: boolean;
  /** Stations whose results stopped for longer than `staleAfterMs`. */
  staleStations: string[];
  /** All of the above are fine. */
  healthy: boolean;
  /** One line saying what is down ("ok" when nothing is). */
  reason: string;
}

/** Where a bridge shows the stations: an OPC UA address space, Modbus registers. */
export interface BridgeSink {
  /** A station's state changed (a result arrived, an acknowledgement). */
  update(state: StationState): void;
  /** The watchdog's verdict, once per heartbeat period; `heartbeat` counts healthy periods. */
  health(health: ChainHealth, heartbeat: number): void;
}

/** Options of {@linkcode startBridgeRuntime}. */
export interface BridgeRuntimeOptions {
  /** Stations shown from the start (others appear with their first result). */
  stations?: string[];
  /** Only these stations are followed (default: every station). */
  only?: boolean;
  /** A station without a result for this long makes the chain unhealthy; 0 turns it off. @default 0 */
  staleAfterMs?: number;
  /** Per-station override of `staleAfterMs` (a triggered station may rest for long). */
  staleAfterMsByStation?: Record<string, number>;
  /** Heartbeat and watchdog period. @default 1000 */
  heartbeatMs?: number;
  /** Ask `adp serve` for its status every heartbeat; false turns the check off. @default true */
  serviceCheck?: boolean;
  /** The service counts as gone when it has not answered for this long. @default 5000 */
  serviceTimeoutMs?: number;
  /** @default console.error */
  log?: (line: string) => void;
}

/** The running runtime. */
export interface BridgeRuntime extends AsyncDisposable {
  readonly nc: NatsConnection;
  /** Adds a sink; it is given every known station at once. Returns a function that removes it. */
  addSink(sink: BridgeSink): () => void;
  stations(): StationState[];
  health(): ChainHealth;
  /** Marks the station's last anomaly acknowledged; false for an unknown station. */
  acknowledge(station: string): boolean;
  /** Requests an enrollment of `shots` frames on `adp.enroll.<station>`. */
  requestEnrollment(station: string, shots: number): Promise<EnrollReply>;
  stop(): Promise<void>;
}

/**
 * Starts following results.
 *
 * @param nc the bus
 * @param opts stations, watchdog limits
 * @returns the runtime; add sinks to it
 *
 * @example
 * ```ts ignore
 * const runtime = await startBridgeRuntime(nc, { stations: ["line-1"], staleAfterMs: 10_000 });
 * runtime.addSink({ update: (s) => console.log(s.station, s.anomalous), health: (h) => console.log(h.reason) });
 * ```
 */
export async function startBridgeRuntime(
  nc: NatsConnection,
  opts: BridgeRuntimeOptions = {},
): Promise<BridgeRuntime> {
  const runtime = new Runtime(nc, opts);
  await runtime.start();
  return runtime;
}

class Runtime implements BridgeRuntime {
  readonly nc: NatsConnection;
  readonly #opts: BridgeRuntimeOptions;
  readonly #states = new Map<string, StationState>();
  readonly #repeats = new ResultRepeats();
  readonly #sinks: BridgeSink[] = [];
  readonly #log: (line: string) => void;
  #subs: Subscription[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #connected = true;
  #serviceSeenAt = Date.now();
  #startedAt = Date.now();
  #heartbeat = 0;
  #lastReason = "ok";
  #health: ChainHealth = {
    natsConnected: true,
    serviceUp: true,
    staleStations: [],
    healthy: true,
    reason: "ok",
  };

  constructor(nc: NatsConnection, opts: BridgeRuntimeOptions) {
    this.nc = nc;
    this.#opts = opts;
    this.#log = opts.log ?? ((line) => console.error(line));
    for (const s of opts.stations ?? []) this.#state(s);
  }

  async start(): Promise<void> {
    const subjects = this.#opts.only && this.#opts.stations?.length
      ? this.#opts.stations.map(resultsSubject)
      : [RESULTS_WILDCARD];
    this.#subs = subjects.map((subject) =>
      this.nc.subscribe(subject, { callback: (_e, m) => this.#onResult(m) })
    );
    await this.nc.flush();
    void this.#watchStatus();
    this.#timer = setInterval(() => this.#tick(), this.#opts.heartbeatMs ?? 1000);
    this.#tick();
  }

  addSink(sink: BridgeSink): () => void {
    this.#sinks.push(sink);
    for (const s of this.#states.values()) sink.update(s);
    sink.health(this.#health, this.#heartbeat);
    return () => {
      const at = this.#sinks.indexOf(sink);
      if (at >= 0) this.#sinks.splice(at, 1);
    };
  }

  stations(): StationState[] {
    return [...this.#states.values()];
  }

  health(): ChainHealth {
    return this.#health;
  }

  acknowledge(station: string): boolean {
    const s = this.#states.get(station);
    if (!s) return false;
    s.acknowledged = true;
    this.#push(s);
    return true;
  }

  async requestEnrollment(station: string, shots: number): Promise<EnrollReply> {
    const reply = await this.nc.request(enrollSubject(station), encodeMessage({ shots }), { timeout: 5000 });
    return decodeEnrollReply(reply.data);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const sub of this.#subs) sub.unsubscribe();
    await this.nc.flush().catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #state(station: string): StationState {
    let s = this.#states.get(station);
    if (!s) {
      s = emptyStationState(station);
      this.#states.set(station, s);
    }
    return s;
  }

  #onResult(m: { subject: string; data: Uint8Array; headers?: MsgHdrs }): void {
    const station = m.subject.slice(SubjectPrefix.results.length + 1);
    if (!isStationId(station)) return;
    // A redelivered durable frame's second answer (result_repeats.ts): counted once.
    if (this.#repeats.isRepeat(m.headers)) return;
    let r;
    try {
      r = decodeResult(m.data);
    } catch (error) {
      this.#log(`bridge: unreadable result on ${m.subject}: ${(error as Error).message}`);
      return;
    }
    const s = this.#state(station);
    applyResult(s, r);
    this.#push(s);
  }

  #push(s: StationState): void {
    for (const sink of this.#sinks) {
      try {
        sink.update(s);
      } catch (error) {
        this.#log(`bridge: a sink failed on ${s.station}: ${(error as Error).message}`);
      }
    }
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect") this.#connected = false;
      else if (s.type === "reconnect") this.#connected = true;
      if (s.type === "disconnect" || s.type === "reconnect") this.#tick();
    }
  }

  #tick(): void {
    if (this.#timer === undefined && this.#heartbeat > 0) return;
    const now = Date.now();
    if (this.#opts.serviceCheck ?? true) void this.#pingService();
    else this.#serviceSeenAt = now;
    const serviceUp = now - this.#serviceSeenAt <= (this.#opts.serviceTimeoutMs ?? 5000);
    const staleStations = this.stations().filter((s) => this.#isStale(s, now)).map((s) => s.station);
    const natsConnected = this.#connected && !this.nc.isClosed();
    const healthy = natsConnected && serviceUp && staleStations.length === 0;
    const reason = healthy ? "ok" : [
      ...(natsConnected ? [] : ["bridge disconnected from NATS"]),
      ...(serviceUp ? [] : ["adp serve not answering"]),
      ...(staleStations.length ? [`no results from ${staleStations.join(", ")}`] : []),
    ].join("; ");
    if (healthy) this.#heartbeat = (this.#heartbeat + 1) % 65536;
    this.#health = { natsConnected, serviceUp, staleStations, healthy, reason };
    if (reason !== this.#lastReason) {
      this.#log(`bridge: chain ${healthy ? "healthy again" : `DOWN: ${reason}`}`);
    }
    this.#lastReason = reason;
    for (const sink of this.#sinks) sink.health(this.#health, this.#heartbeat);
  }

  #isStale(s: StationState, now: number): boolean {
    const limit = this.#opts.staleAfterMsByStation?.[s.station] ?? this.#opts.staleAfterMs ?? 0;
    if (limit <= 0) return false;
    const last = s.lastResultAt?.getTime() ?? this.#startedAt;
    return now - last > limit;
  }

  /** Stations the service knows (enrolled, or seen) appear at once, before their first result. */
  #discover(data: Uint8Array): void {
    if (this.#opts.only) return;
    let stations: unknown;
    try {
      stations = (JSON.parse(new TextDecoder().decode(data)) as { stations?: unknown }).stations;
    } catch {
      return;
    }
    if (!Array.isArray(stations)) return;
    for (const entry of stations) {
      const id = (entry as { station?: unknown })?.station;
      if (isStationId(id) && !this.#states.has(id)) this.#push(this.#state(id));
    }
  }

  async #pingService(): Promise<void> {
    if (this.nc.isClosed()) return;
    try {
      const reply = await this.nc.request(serviceSubject(Endpoint.status), undefined, { timeout: 2000 });
      this.#serviceSeenAt = Date.now();
      this.#discover(reply.data);
    } catch {
      // no instance answered: the watchdog counts the silence
    }
  }
}
