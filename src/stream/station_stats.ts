/**
 * Per-station counters and latency percentiles for the status endpoint. Latencies live in a fixed
 * window of the last frames, so memory does not grow with uptime.
 *
 * @module
 */
import type { FrameErrorReason, LatencySummary } from "./messages.ts";

/**
 * What the processor reports as it works, for metrics (`ServiceMetrics` in `src/ops` is one):
 * the counters are read from the status at scrape time, these are the observations that are not.
 * Times in seconds.
 */
export interface ProcessorTelemetry {
  /** A scored frame's receipt-to-result latency. */
  frameLatency(station: string, seconds: number): void;
  /** A frame's wait from receipt to the start of its decoding. */
  queueWait(station: string, seconds: number): void;
  /** A frame's decoding and preparation in a worker. */
  decodeTime(station: string, seconds: number): void;
  /** A station's scorer on its frames of one pass. */
  scoringTime(station: string, seconds: number): void;
  /** One vision pass over `frames` frames. */
  modelPass(frames: number, seconds: number): void;
  /** Every enrollment progress message published (the last has `done`). */
  enrollProgress(msg: { jobId: string; station: string; stage: string; done?: boolean }): void;
}

/** Latencies kept per station. */
const LATENCY_WINDOW = 1024;

/** Counters of one station. */
export class StationStats {
  /** Frames received. */
  received = 0;
  /** Frames scored. */
  scored = 0;
  /** Frames found anomalous. */
  anomalies = 0;
  /** Frames answered with an error, by reason. */
  readonly dropped: Partial<Record<FrameErrorReason, number>> = {};
  readonly #latencies = new Float64Array(LATENCY_WINDOW);
  #count = 0;
  readonly #id: string;
  readonly #telemetry: ProcessorTelemetry | undefined;

  /**
   * Counters of one station.
   *
   * @param id the station (for telemetry)
   * @param telemetry where latencies are also reported
   */
  constructor(id = "", telemetry?: ProcessorTelemetry) {
    this.#id = id;
    this.#telemetry = telemetry;
  }

  /** Counts a frame that got an error result. */
  drop(reason: FrameErrorReason): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }

  /** Records a scored frame's latency. */
  latency(ms: number): void {
    this.#latencies[this.#count % LATENCY_WINDOW] = ms;
    this.#telemetry?.frameLatency(this.#id, ms / 1000);
    this.#count++;
  }

  /** p50 and p99 of the window, rounded to 0.1 ms. */
  latencySummary(): LatencySummary {
    const n = Math.min(this.#count, LATENCY_WINDOW);
    if (n === 0) return { p50: null, p99: null, count: 0 };
    const sorted = this.#latencies.slice(0, n).sort();
    const at = (q: number) => Math.round(sorted[Math.min(n - 1, Math.floor(q * n))] * 10) / 10;
    return { p50: at(0.5), p99: at(0.99), count: n };
  }
}
