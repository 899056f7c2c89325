/**
 * Mutated frames through a running service: each is published on `adp.frames.<station>` with its own
 * frame id, and each must come back as exactly one result on `adp.results.<station>` that either
 * carries a score or a clear error with its reason. Frames are kept a few at a time in flight, so
 * what is measured is the decoder path, not the overload policy (which has its own run).
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Random } from "../../src/random.ts";
import { mutate, type SeedFrame } from "./mutate.ts";
import { isClearResult, publishFrame, ResultTracker } from "./service.ts";

/** Options of {@linkcode runServiceFuzz}. */
export interface ServiceFuzzOptions {
  nc: NatsConnection;
  /** An enrolled station. */
  station: string;
  corpus: readonly SeedFrame[];
  count: number;
  /** @default 2 (a different stream than the decoder fuzz's) */
  seed?: number;
  /** Frames sent and not yet answered, at most. @default 8 */
  window?: number;
  /** How long to wait for the last results. @default 60000 */
  timeoutMs?: number;
  /** Called every 100 frames with the count sent. */
  onProgress?: (sent: number) => void;
}

/** What the service answered. */
export interface ServiceFuzzReport {
  sent: number;
  /** Results with a score. */
  scored: number;
  /** Error results by reason. */
  errors: Record<string, number>;
  /** Results that were neither a clean score nor a clear error (must be 0). */
  unclear: number;
  /** Frames without a result (must be 0). */
  lost: number;
  /** Second results for a frame (must be 0). */
  duplicates: number;
  durationMs: number;
  /** One example error message per reason. */
  examples: Record<string, string>;
}

/**
 * Publishes `count` mutated frames to the service and checks every answer.
 *
 * @param opts the connection, station, corpus and count
 * @returns the counts
 */
export async function runServiceFuzz(opts: ServiceFuzzOptions): Promise<ServiceFuzzReport> {
  const rng = Random.forStream(opts.seed ?? 2, "service-fuzz");
  const window = opts.window ?? 8;
  const tracker = new ResultTracker(opts.nc, opts.station);
  const started = performance.now();
  const ids: string[] = [];
  let answered = 0;
  let wake: (() => void) | undefined;
  const stopListening = tracker.listen(() => {
    answered++;
    wake?.();
  });
  try {
    await opts.nc.flush();
    for (let i = 0; i < opts.count; i++) {
      const deadline = performance.now() + (opts.timeoutMs ?? 60_000);
      while (ids.length - answered >= window && performance.now() < deadline) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      }
      const id = `fuzz-${i}`;
      ids.push(id);
      publishFrame(opts.nc, opts.station, mutate(rng, opts.corpus).bytes, id);
      if ((i + 1) % 100 === 0) opts.onProgress?.(i + 1);
    }
    const missing = await tracker.waitAll(ids, opts.timeoutMs ?? 60_000);
    const report: ServiceFuzzReport = {
      sent: ids.length,
      scored: 0,
      errors: {},
      unclear: 0,
      lost: missing.length,
      duplicates: tracker.duplicates + tracker.malformed,
      durationMs: performance.now() - started,
      examples: {},
    };
    for (const id of ids) {
      const t = tracker.byId.get(id);
      if (!t) continue;
      const r = t.result;
      if (!isClearResult(r)) report.unclear++;
      if (r.error === undefined) {
        report.scored++;
      } else {
        const why = r.reason ?? "none";
        report.errors[why] = (report.errors[why] ?? 0) + 1;
        report.examples[why] ??= r.error;
      }
    }
    return report;
  } finally {
    stopListening();
    tracker.stop();
  }
}
