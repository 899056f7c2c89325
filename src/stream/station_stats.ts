/**
 * Per-station counters and latency percentiles for the status endpoint. Latencies live in a fixed
 * window of the last frames, so memory does not grow with uptime.
 *
 * @module
 */
import type { FrameErrorReason, LatencySummary } from "./messages.ts";

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

  /** Counts a frame that got an error result. */
  drop(reason: FrameErrorReason): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }

  /** Records a scored frame's latency. */
  latency(ms: number): void {
    this.#latencies[this.#count % LATENCY_WINDOW] = ms;
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
