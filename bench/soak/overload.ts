/**
 * Overload of a running service, measured from the outside: its sustainable frame rate is measured
 * first (a closed loop that never has more frames outstanding than a station's queue holds), then
 * frames are offered at `factor` times that rate for `durationS` seconds, then at a trickle again.
 * Every frame has its own id; every result is matched to its frame. Reported: the rates, what was
 * scored and what was dropped by reason (results out = frames in), end-to-end latency of scored
 * frames (publish to result, on the client's clock) before, during and after, the service's memory
 * through the run, and whether its counters agree with what the client saw.
 *
 * @module
 */
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { Image } from "imagescript";
import type { StationStatus } from "../../src/stream/messages.ts";
import { isClearResult, publishFrame, quantile, requestStatus, ResultTracker } from "./service.ts";

/** Options of {@linkcode runOverload}. */
export interface OverloadOptions {
  nc: NatsConnection;
  /** An enrolled station. */
  station: string;
  /** Frames to send, in turn. */
  frames: readonly Uint8Array[];
  /** Offered load as a multiple of the sustainable rate. @default 5 */
  factor?: number;
  /** Seconds of overload. */
  durationS: number;
  /** Seconds of the closed loop that measures the sustainable rate. @default 3 */
  calibrateS?: number;
  /** Frames outstanding in the closed loop: the station's queue depth, so that none is dropped. @default 16 */
  window?: number;
  /** Frames sent one at a time before and after, for the unloaded latency. @default 12 */
  idleFrames?: number;
  /** The service's resident memory, bytes. */
  rss: () => Promise<number>;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Latency quantiles, ms. */
export interface Latency {
  p50: number;
  p99: number;
  max: number;
  count: number;
}

/** What an overload run saw. */
export interface OverloadReport {
  /** Frames per second the closed loop got scored. */
  sustainableFps: number;
  /** Frames per second offered during the overload. */
  offeredFps: number;
  /** Frames per second scored during the overload. */
  scoredFps: number;
  /** Frames sent during the overload. */
  sent: number;
  /** Their results. */
  results: number;
  scored: number;
  /** Error results by reason (`overload` expected). */
  dropped: Record<string, number>;
  lost: number;
  duplicates: number;
  unclear: number;
  /** End-to-end latency of scored frames: unloaded, during the overload (whole, first and last third), after. */
  latency: { idle: Latency; overload: Latency; firstThird: Latency; lastThird: Latency; recovered: Latency };
  /**
   * The same frames' time inside the service (receipt to result, the result's `latencyMs`) and in
   * transit before it (publish to receipt: the bus and the service's socket), ms.
   */
  inService: Latency;
  transit: Latency;
  /** From the last frame offered to the last result. */
  drainMs: number;
  /** Service memory: before the overload, highest during it, at its end, and after recovery. */
  rss: { before: number; peak: number; end: number; after: number; atThird: number };
  /** The service's counters over the overload, as its status endpoint tells them. */
  counters: { received: number; scored: number; dropped: Record<string, number> };
}

/**
 * Measures the sustainable rate, overloads the service by `factor`, and watches it recover.
 *
 * @param opts the connection, station, frames and durations
 * @returns rates, counts, latencies and memory
 */
export async function runOverload(opts: OverloadOptions): Promise<OverloadReport> {
  const log = opts.log ?? (() => {});
  const factor = opts.factor ?? 5;
  const window = opts.window ?? 16;
  const tracker = new ResultTracker(opts.nc, opts.station);
  const sentAt = new Map<string, number>();
  let next = 0;
  const send = (prefix: string): string => {
    const id = `${prefix}-${next}`;
    publishFrame(opts.nc, opts.station, opts.frames[next++ % opts.frames.length], id);
    sentAt.set(id, performance.now());
    return id;
  };
  const e2e = (id: string) => tracker.byId.get(id)!.at - sentAt.get(id)!;
  const scoredLatencies = (ids: string[]) =>
    ids.filter((id) => tracker.byId.get(id)?.result.score != null).map(e2e);
  const sequential = async (prefix: string, n: number): Promise<string[]> => {
    const ids = [];
    for (let i = 0; i < n; i++) {
      const id = send(prefix);
      ids.push(id);
      await tracker.waitOne(id, 30_000);
      await new Promise((r) => setTimeout(r, 20));
    }
    return ids;
  };
  try {
    await opts.nc.flush();
    await sequential("warm", 4);
    const idleIds = await sequential("idle", opts.idleFrames ?? 12);

    // Sustainable rate: a closed loop never holding more frames than a queue takes.
    const calibrateMs = (opts.calibrateS ?? 3) * 1000;
    const loopIds: string[] = [];
    let answered = 0;
    const stopCounting = tracker.listen((t) => {
      if (t.result.frameId.startsWith("loop-")) answered++;
    });
    const t0 = performance.now();
    while (performance.now() - t0 < calibrateMs) {
      while (loopIds.length - answered < window) loopIds.push(send("loop"));
      await new Promise((r) => setTimeout(r, 2));
    }
    const calibrated = loopIds.slice();
    await tracker.waitAll(calibrated, 30_000);
    stopCounting();
    const loopScored = calibrated.filter((id) => {
      const t = tracker.byId.get(id)!;
      return t.result.score != null && t.at - t0 <= calibrateMs;
    }).length;
    const sustainableFps = loopScored / (calibrateMs / 1000);
    const offeredFps = sustainableFps * factor;
    log(
      `sustainable ${sustainableFps.toFixed(1)} frames/s; offering ${
        offeredFps.toFixed(1)
      } frames/s for ${opts.durationS} s`,
    );

    // Overload: frames on a fixed schedule, whatever the service does.
    const statusBefore = await stationStatus(opts.nc, opts.station);
    const rss = { before: await opts.rss(), peak: 0, end: 0, after: 0, atThird: 0 };
    rss.peak = rss.before;
    const overloadIds: string[] = [];
    const durationMs = opts.durationS * 1000;
    const start = performance.now();
    let lastSample = start;
    let sampling = Promise.resolve();
    let lastFlush = start;
    for (let elapsed = 0; elapsed < durationMs; elapsed = performance.now() - start) {
      const due = Math.floor((elapsed / 1000) * offeredFps);
      while (overloadIds.length < due) overloadIds.push(send("load"));
      // The server has taken everything sent so far: frames wait at the server or the service, never
      // in this client's own buffer (which would be the load generator's backlog, not the service's).
      if (performance.now() - lastFlush >= 100) {
        await opts.nc.flush();
        lastFlush = performance.now();
      }
      if (performance.now() - lastSample >= 250) {
        lastSample = performance.now();
        const third = elapsed >= durationMs / 3 && rss.atThird === 0;
        sampling = sampling.then(async () => {
          const now = await opts.rss();
          rss.peak = Math.max(rss.peak, now);
          if (third) rss.atThird = now;
        });
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await sampling;
    const offeredAt = performance.now();
    rss.end = await opts.rss();
    rss.peak = Math.max(rss.peak, rss.end);
    const missing = await tracker.waitAll(overloadIds, 60_000);
    const drainMs = performance.now() - offeredAt;
    const statusAfter = await stationStatus(opts.nc, opts.station);
    const scoredIds = overloadIds.filter((id) => tracker.byId.get(id)?.result.score != null);
    const lastScoredAt = Math.max(...scoredIds.map((id) => tracker.byId.get(id)!.at));
    const dropped: Record<string, number> = {};
    let unclear = 0;
    for (const id of overloadIds) {
      const r = tracker.byId.get(id)?.result;
      if (!r) continue;
      if (!isClearResult(r)) unclear++;
      if (r.reason) dropped[r.reason] = (dropped[r.reason] ?? 0) + 1;
    }
    log(
      `overload: ${overloadIds.length} sent, ${scoredIds.length} scored, dropped ${JSON.stringify(dropped)}`,
    );

    // After: a trickle again, which must see the unloaded latency.
    const recoveredIds = await sequential("after", opts.idleFrames ?? 12);
    rss.after = await opts.rss();
    const third = Math.ceil(overloadIds.length / 3);
    const scoredResults = scoredIds.map((id) => tracker.byId.get(id)!.result);
    return {
      sustainableFps,
      offeredFps,
      scoredFps: scoredIds.length / ((lastScoredAt - start) / 1000),
      sent: overloadIds.length,
      results: overloadIds.length - missing.length,
      scored: scoredIds.length,
      dropped,
      lost: missing.length,
      duplicates: tracker.duplicates + tracker.malformed,
      unclear,
      latency: {
        idle: summary(scoredLatencies(idleIds)),
        overload: summary(scoredLatencies(overloadIds)),
        firstThird: summary(scoredLatencies(overloadIds.slice(0, third))),
        lastThird: summary(scoredLatencies(overloadIds.slice(-third))),
        recovered: summary(scoredLatencies(recoveredIds)),
      },
      inService: summary(scoredResults.map((r) => r.latencyMs)),
      transit: summary(scoredResults.map((r) => Date.parse(r.receivedAt) - Date.parse(r.capturedAt!))),
      drainMs,
      rss,
      counters: {
        received: statusAfter.received - statusBefore.received,
        scored: statusAfter.scored - statusBefore.scored,
        dropped: Object.fromEntries(
          Object.entries(statusAfter.dropped).map((
            [k, v],
          ) => [k, (v ?? 0) - (statusBefore.dropped[k as never] ?? 0)]),
        ),
      },
    };
  } finally {
    tracker.stop();
  }
}

/**
 * Real camera frames: good bottles from `../shared`, as they are (900×900 PNG) or scaled to `side`
 * and encoded again.
 *
 * @param shared the shared folder
 * @param count how many frames (distinct bottles)
 * @param side the frames' side; @default the original 900
 */
export async function bottleFrames(shared: string, count: number, side?: number): Promise<Uint8Array[]> {
  const frames = [];
  for (let i = 0; i < count; i++) {
    const path = join(shared, `datasets/mvtec-ad/bottle/train/good/${String(30 + i).padStart(3, "0")}.png`);
    const bytes = await Deno.readFile(path);
    if (side === undefined) {
      frames.push(bytes);
      continue;
    }
    const image = (await Image.decode(bytes) as Image).resize(side, side);
    frames.push(await image.encode(1));
  }
  return frames;
}

async function stationStatus(nc: NatsConnection, station: string): Promise<StationStatus> {
  const status = await requestStatus(nc);
  const s = status.stations.find((x) => x.station === station);
  if (!s) throw new Error(`The service reports no station ${station}`);
  return s;
}

function summary(values: number[]): Latency {
  return {
    p50: round(quantile(values, 0.5)),
    p99: round(quantile(values, 0.99)),
    max: round(values.length ? Math.max(...values) : NaN),
    count: values.length,
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
