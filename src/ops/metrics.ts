/**
 * The service's Prometheus metrics, on prom-client. Per-station counters are read from the
 * processor's own counters at scrape time (nothing is counted twice, and the hot path pays nothing
 * for them); latencies and batch sizes are observed as they happen through the small
 * {@linkcode ServiceMetrics} hook methods the processor calls.
 *
 * The names `adp_frames_received_total`, `adp_frames_scored_total`, `adp_frames_anomalous_total`,
 * `adp_frames_dropped_total` and `adp_frame_latency_seconds` are an interface: outside checks read
 * them. Keep them.
 *
 * @module
 */
import client from "prom-client";

/** One station's counters as the processor keeps them (its status endpoint's shape). */
export interface StationCounters {
  /** Station id. */
  station: string;
  /** Frames received. */
  received: number;
  /** Frames scored. */
  scored: number;
  /** Frames found anomalous. */
  anomalies: number;
  /** Frames answered with an error, by reason. */
  dropped: Partial<Record<string, number>>;
  /** Version of the profile in force; null without one. */
  profileVersion: number | null;
  /** Frames waiting for a decode worker. */
  queued: number;
}

/** What the metrics read at scrape time. */
export interface MetricsSource {
  /** Every tracked station's counters. */
  stations(): Iterable<StationCounters>;
  /** Anomaly events whose heat map was skipped or failed. */
  heatmapFailures?(): number;
  /** What each station holds in the heat-map store (state dir or bucket). */
  heatmapStore?(): Iterable<[station: string, usage: { count: number; bytes: number }]>;
  /** Enrollment jobs waiting or running. */
  enrollQueue?(): number;
  /** Stations forgotten to make room in the station table (`--max-stations`). */
  evictedStations?(): number;
}

/** An enrollment progress message, as far as the metrics read it. */
export interface EnrollProgressLike {
  /** The job's id. */
  jobId: string;
  /** Its station. */
  station: string;
  /** The stage (`done` and `failed` end it). */
  stage: string;
  /** Set on the last message of a job. */
  done?: boolean;
}

/** Latency buckets in seconds: 1 ms to 10 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Enrollment duration buckets in seconds. */
const ENROLL_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800];

/** The registry of one service and the hooks that feed it. */
export class ServiceMetrics {
  /** The prom-client registry (`registry.metrics()` is the exposition text). */
  readonly registry: client.Registry = new client.Registry();
  #source: MetricsSource | undefined;
  readonly #frameLatency: client.Histogram<"station">;
  readonly #queueWait: client.Histogram<"station">;
  readonly #decode: client.Histogram<"station">;
  readonly #scoring: client.Histogram<"station">;
  readonly #model: client.Histogram;
  readonly #batchSize: client.Histogram;
  readonly #enrollJobs: client.Counter<"outcome">;
  readonly #enrollDuration: client.Histogram<"outcome">;
  readonly #jobStarts = new Map<string, number>();

  /**
   * A registry with the service's metrics and, unless `defaults` is false, prom-client's process
   * metrics (memory, CPU, file descriptors, event loop lag) prefixed `adp_`.
   *
   * @param opts `defaults`: include the process metrics
   */
  constructor(opts: { defaults?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaults !== false) client.collectDefaultMetrics({ register: this.registry, prefix: "adp_" });
    const latency = (name: string, help: string) =>
      new client.Histogram({ name, help, labelNames: ["station"], buckets: LATENCY_BUCKETS, registers });
    this.#frameLatency = latency(
      "adp_frame_latency_seconds",
      "Receipt to result, per scored frame (end to end inside the service)",
    );
    this.#queueWait = latency("adp_frame_queue_seconds", "Receipt to the start of decoding");
    this.#decode = latency("adp_frame_decode_seconds", "Decoding and preparation in a worker");
    this.#scoring = latency("adp_frame_scoring_seconds", "The station's scorer on its rows of a pass");
    this.#model = new client.Histogram({
      name: "adp_model_pass_seconds",
      help: "One vision pass of the model over a micro-batch",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#batchSize = new client.Histogram({
      name: "adp_batch_frames",
      help: "Frames per micro-batch",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.#enrollJobs = new client.Counter({
      name: "adp_enrollment_jobs_total",
      help: "Enrollment jobs ended, by outcome (done, failed)",
      labelNames: ["outcome"],
      registers,
    });
    this.#enrollDuration = new client.Histogram({
      name: "adp_enrollment_duration_seconds",
      help: "Enrollment jobs from first progress to their end, by outcome",
      labelNames: ["outcome"],
      buckets: ENROLL_BUCKETS,
      registers,
    });
    this.#registerCounters();
  }

  /** Sets what the scrape-time counters read (the processor, once it runs). */
  setSource(source: MetricsSource | undefined): void {
    this.#source = source;
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  async metrics(): Promise<string> {
    return await this.registry.metrics();
  }

  /** Content type of {@linkcode metrics}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  // Hooks the processor calls.

  /** A scored frame's receipt-to-result latency. */
  frameLatency(station: string, seconds: number): void {
    this.#frameLatency.observe({ station }, seconds);
  }

  /** A frame's wait from receipt to the start of its decoding. */
  queueWait(station: string, seconds: number): void {
    this.#queueWait.observe({ station }, seconds);
  }

  /** A frame's decoding and preparation. */
  decodeTime(station: string, seconds: number): void {
    this.#decode.observe({ station }, seconds);
  }

  /** A station's scorer on its frames of one pass. */
  scoringTime(station: string, seconds: number): void {
    this.#scoring.observe({ station }, seconds);
  }

  /** One vision pass over `frames` frames. */
  modelPass(frames: number, seconds: number): void {
    this.#model.observe(seconds);
    this.#batchSize.observe(frames);
  }

  /** An enrollment progress message: the first starts the job's clock, the last counts its outcome. */
  enrollProgress(msg: EnrollProgressLike): void {
    const now = performance.now();
    if (!this.#jobStarts.has(msg.jobId)) this.#jobStarts.set(msg.jobId, now);
    if (!msg.done) return;
    const outcome = msg.stage === "done" ? "done" : "failed";
    this.#enrollJobs.inc({ outcome });
    this.#enrollDuration.observe({ outcome }, (now - this.#jobStarts.get(msg.jobId)!) / 1000);
    this.#jobStarts.delete(msg.jobId);
  }

  /** Counters and gauges read from the source when scraped. */
  #registerCounters(): void {
    const registers = [this.registry];
    const stations = () => [...(this.#source?.stations() ?? [])];
    const perStation = (name: string, help: string, pick: (s: StationCounters) => number) =>
      new client.Counter({
        name,
        help,
        labelNames: ["station"],
        registers,
        collect() {
          this.reset();
          for (const s of stations()) this.inc({ station: s.station }, pick(s));
        },
      });
    perStation("adp_frames_received_total", "Frames received, per station", (s) => s.received);
    perStation("adp_frames_scored_total", "Frames scored, per station", (s) => s.scored);
    perStation("adp_frames_anomalous_total", "Frames found anomalous, per station", (s) => s.anomalies);
    new client.Counter({
      name: "adp_frames_dropped_total",
      help: "Frames answered with an error instead of a score, per station and reason",
      labelNames: ["station", "reason"],
      registers,
      collect() {
        this.reset();
        for (const s of stations()) {
          for (const [reason, n] of Object.entries(s.dropped)) {
            this.inc({ station: s.station, reason }, n ?? 0);
          }
        }
      },
    });
    this.#gauge("adp_profile_version", "Version of the profile in force, per station", ["station"], (g) => {
      for (const s of stations()) {
        if (s.profileVersion !== null) g.set({ station: s.station }, s.profileVersion);
      }
    });
    this.#gauge("adp_frames_queued", "Frames waiting for a decode worker, per station", ["station"], (g) => {
      for (const s of stations()) g.set({ station: s.station }, s.queued);
    });
    const source = () => this.#source;
    this.#gauge("adp_heatmap_failures", "Anomaly events whose heat map was skipped or failed", [], (g) => {
      const n = source()?.heatmapFailures?.();
      if (n !== undefined) g.set(n);
    });
    const store = () => [...(source()?.heatmapStore?.() ?? [])];
    this.#gauge("adp_heatmap_store_count", "Heat maps kept, per station", ["station"], (g) => {
      for (const [station, u] of store()) g.set({ station }, u.count);
    });
    this.#gauge(
      "adp_heatmap_store_bytes",
      "PNG bytes of the heat maps kept, per station",
      ["station"],
      (g) => {
        for (const [station, u] of store()) g.set({ station }, u.bytes);
      },
    );
    this.#gauge("adp_enrollment_queue", "Enrollment jobs waiting or running", [], (g) => {
      const n = source()?.enrollQueue?.();
      if (n !== undefined) g.set(n);
    });
    new client.Counter({
      name: "adp_stations_evicted_total",
      help:
        "Idle stations forgotten to make room in the station table (--max-stations); profiles stay on disk",
      registers,
      collect() {
        this.reset();
        this.inc(source()?.evictedStations?.() ?? 0);
      },
    });
  }

  #gauge<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    fill: (g: client.Gauge<L>) => void,
  ): void {
    new client.Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        fill(this);
      },
    });
  }
}
