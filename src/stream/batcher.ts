/**
 * From queued frames to scores: frames are decoded and prepared in the workers (about two batches
 * in flight), collected into micro-batches of up to `maxBatch` frames from any stations within
 * `maxWaitMs`, and each batch gets one vision pass, whose rows each station's scorer then takes.
 * Running the model once per batch, not once per station, is what lets one instance serve many
 * cameras.
 *
 * @module
 */
import {
  type FramePreparation,
  type FrameScore,
  type PreparedFrame,
  runVisionPass,
  type Scorer,
  selectFromPass,
  type VisionPass,
} from "../adp/mod.ts";
import type { Rgb8Image } from "../image/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import type { DecodePool } from "./decode_pool.ts";
import { DecodeBudgetError } from "./errors.ts";
import type { FrameIntake } from "./intake.ts";
import { FrameErrorReason } from "./messages.ts";
import { reason } from "./profile_store.ts";
import type { ResultPublisher } from "./publisher.ts";
import type { Frame, Station } from "./stations.ts";
import type { ProcessorTelemetry } from "./station_stats.ts";

/** Options of {@linkcode Batcher}. */
export interface BatcherOptions {
  /** Frames per model batch. */
  maxBatch: number;
  /** Longest wait for a batch to fill once a frame is ready. */
  maxWaitMs: number;
  /** The decode workers' pixel limit (the intake checked the header against the same one). */
  maxPixels: number;
  /** Longest side of the preview kept for the heat map (the full frame stays in the worker). */
  previewSide: number;
  /**
   * Frames of one station in the decode workers at once while other stations have frames waiting:
   * fewer than the workers, so another station's frame waits for at most one decode budget.
   */
  perStationDecodes: number;
  /** Where a batch failing outside scoring is reported. */
  log: (line: string) => void;
  /** Where queue, decode, model and scoring times are reported. */
  telemetry?: ProcessorTelemetry;
  /** Called when frames may have left the pipeline (a batch answered, a decode ended): see `busy`. */
  settled?: () => void;
}

/** A frame back from a worker: its size, the model's inputs and the heat map's preview; never the full frame. */
interface Decoded {
  station: Station;
  frame: Frame;
  width: number;
  height: number;
  /** Made in the worker for the scorer in force at decode time. */
  prepared: PreparedFrame;
  /** The frame at the heat map's size. */
  preview: Rgb8Image;
}

/** One station's part of a batch, with the scorer it holds until the batch is published. */
interface StationGroup {
  station: Station;
  scorer: Scorer;
  items: Decoded[];
}

/** Decodes queued frames in the workers and scores them in micro-batches. */
export class Batcher {
  readonly #clip: ClipModel;
  readonly #intake: FrameIntake;
  readonly #publisher: ResultPublisher;
  readonly #pool: DecodePool;
  readonly #opts: BatcherOptions;
  readonly #wake = new Wake();
  #decoding = 0;
  #ready: Decoded[] = [];
  /** Each station's decodes in the order they started. */
  readonly #order = new Map<Station, { done: boolean; decoded?: Decoded }[]>();
  #finishing = false;
  #scoring = false;

  /**
   * A batcher that starts taking frames on {@linkcode pump} and scoring them in {@linkcode run}.
   *
   * @param clip the model of the vision pass
   * @param intake where queued frames are taken from
   * @param publisher where scores and failures go
   * @param pool the decode workers
   * @param opts batch size and wait
   */
  constructor(
    clip: ClipModel,
    intake: FrameIntake,
    publisher: ResultPublisher,
    pool: DecodePool,
    opts: BatcherOptions,
  ) {
    this.#clip = clip;
    this.#intake = intake;
    this.#publisher = publisher;
    this.#pool = pool;
    this.#opts = opts;
  }

  /** Whether a frame is queued, decoding, ready or being scored: what background model runs wait for. */
  get busy(): boolean {
    return this.#scoring || !this.#idle();
  }

  /** Starts decoding while the pipeline has room: about two batches in flight. */
  pump(): void {
    const limit = 2 * this.#opts.maxBatch;
    // A station alone may use every worker; with others waiting it holds at most all but one.
    const may = (station: Station) =>
      station.decoding < this.#opts.perStationDecodes || !this.#intake.othersWaiting(station);
    // No more frames in the pool than it has workers: a frame is chosen (fairly) when a worker is
    // free, never queued inside the pool behind another station's.
    while (this.#decoding < this.#pool.size && this.#decoding + this.#ready.length < limit) {
      const next = this.#intake.take(may);
      if (!next) return;
      this.#decode(next.station, next.frame);
    }
  }

  /**
   * Scores batches as frames become ready; resolves once {@linkcode finish} was called and every
   * frame taken has been answered.
   */
  async run(): Promise<void> {
    const { maxBatch } = this.#opts;
    while (true) {
      if (!this.#ready.length) {
        if (this.#finishing && this.#idle()) return;
        await this.#wake.wait();
        continue;
      }
      await this.#fill();
      const batch = this.#ready.splice(0, maxBatch);
      this.pump();
      this.#scoring = true;
      try {
        await this.#scoreBatch(batch);
      } catch (error) {
        this.#opts.log(`error: batch failed outside scoring: ${reason(error)}`);
      } finally {
        this.#scoring = false;
        this.#opts.settled?.();
      }
    }
  }

  /** No frame will be queued any more: {@linkcode run} ends once the last one is answered. */
  finish(): void {
    this.#finishing = true;
    this.#wake.notify();
  }

  #decode(station: Station, frame: Frame): void {
    const preparation = station.slot.current?.preparation;
    if (!preparation) return this.#publisher.failNoProfile(station, frame);
    this.#decoding++;
    station.decoding++;
    // Decodes of one station may finish out of order on several workers: its frames join the
    // ready list in the order they arrived, so its results and events keep that order.
    const entry: { done: boolean; decoded?: Decoded } = { done: false };
    const order = this.#order.get(station) ?? [];
    this.#order.set(station, order);
    order.push(entry);
    this.#decodeFor(station, frame, preparation).then(
      (decoded) => {
        entry.done = true;
        entry.decoded = decoded;
        while (order.length && order[0].done) {
          const next = order.shift()!;
          if (next.decoded) this.#ready.push(next.decoded);
        }
        if (!order.length) this.#order.delete(station);
      },
    ).finally(() => {
      this.#decoding--;
      station.decoding--;
      this.pump();
      this.#wake.notify();
      this.#opts.settled?.();
    });
  }

  /** The frame decoded and prepared in a worker, or undefined once it is answered with why not. */
  async #decodeFor(station: Station, frame: Frame, prepare: FramePreparation): Promise<Decoded | undefined> {
    const t0 = performance.now();
    this.#opts.telemetry?.queueWait(station.id, (t0 - frame.receivedAt) / 1000);
    try {
      const d = await this.#pool.decodeForScoring(frame.bytes, {
        maxPixels: this.#opts.maxPixels,
        prepare,
        previewSide: this.#opts.previewSide,
        memoryBytes: frame.cost.memoryBytes,
      });
      this.#opts.telemetry?.decodeTime(station.id, (performance.now() - t0) / 1000);
      return { station, frame, ...d };
    } catch (error) {
      // The intake refused every header over the same limits, so a frame failing here is one that
      // does not decode, whose worker died on it, or that ran out of its time budget.
      const why = error instanceof DecodeBudgetError
        ? FrameErrorReason.tooLarge
        : FrameErrorReason.undecodable;
      this.#publisher.fail(station, frame, why, reason(error));
      return undefined;
    }
  }

  #idle(): boolean {
    return !this.#intake.hasWaiting && this.#decoding === 0 && !this.#ready.length;
  }

  /** Waits up to `maxWaitMs` for the batch to fill, while frames are still on their way. */
  async #fill(): Promise<void> {
    const deadline = performance.now() + this.#opts.maxWaitMs;
    while (this.#ready.length < this.#opts.maxBatch && (this.#decoding > 0 || this.#intake.hasWaiting)) {
      const left = deadline - performance.now();
      if (left <= 0) return;
      await this.#wake.wait(left);
    }
  }

  /**
   * Scores a batch from any stations with one vision pass: each station's scorer then takes its
   * frames' rows. A frame prepared for a scorer that has since been swapped is prepared again here.
   */
  async #scoreBatch(batch: Decoded[]): Promise<void> {
    const groups = this.#groupByStation(batch);
    if (!groups.length) return;
    try {
      await Promise.all(groups.map((group) => this.#prepareGroup(group)));
      const frames: PreparedFrame[] = [];
      const blocks = new Set<number>();
      for (const { scorer, items } of groups) {
        if (!items.length) continue;
        scorer.visionBlocks.forEach((b) => blocks.add(b));
        for (const d of items) frames.push(d.prepared);
      }
      if (!frames.length) return;
      let pass: VisionPass;
      try {
        const t0 = performance.now();
        pass = await runVisionPass(this.#clip, frames, [...blocks], { batch: this.#opts.maxBatch });
        this.#opts.telemetry?.modelPass(frames.length, (performance.now() - t0) / 1000);
      } catch (error) {
        for (const group of groups) this.#failGroup(group, error);
        return;
      }
      let at = 0;
      for (const group of groups) {
        if (!group.items.length) continue;
        await this.#scoreGroup(group, frames.slice(at, at + group.items.length), pass, at);
        at += group.items.length;
      }
    } finally {
      for (const { station, scorer } of groups) station.slot.release(scorer);
    }
  }

  /** The batch's frames by station, each group holding its scorer; frames of stations without one are answered. */
  #groupByStation(batch: Decoded[]): StationGroup[] {
    const groups = new Map<string, StationGroup>();
    for (const d of batch) {
      const group = groups.get(d.station.id);
      if (group) {
        group.items.push(d);
        continue;
      }
      const scorer = d.station.slot.acquire();
      if (!scorer) this.#publisher.failNoProfile(d.station, d.frame);
      else groups.set(d.station.id, { station: d.station, scorer, items: [d] });
    }
    return [...groups.values()];
  }

  /**
   * Frames prepared for a scorer that has since been swapped for one needing other inputs are
   * decoded again for it (the full frame was not kept); those that fail are answered and removed.
   */
  async #prepareGroup(group: StationGroup): Promise<void> {
    const { station, scorer } = group;
    const fits = (p: PreparedFrame) =>
      scorer.preparation.patchInputs.every((spec) => spec.key in p.patchInputs);
    if (group.items.every((d) => fits(d.prepared))) return;
    const again = await Promise.all(
      group.items.map((d) => fits(d.prepared) ? d : this.#decodeFor(station, d.frame, scorer.preparation)),
    );
    group.items = again.filter((d): d is Decoded => d !== undefined);
  }

  /** Scores one station's frames from their rows of the pass, starting at row `at`, and publishes them. */
  async #scoreGroup(group: StationGroup, own: PreparedFrame[], pass: VisionPass, at: number): Promise<void> {
    const { station, scorer, items } = group;
    let scores: FrameScore[];
    try {
      const t0 = performance.now();
      scores = await scorer.scorePrepared(own, selectFromPass(pass, items.map((_, i) => at + i)));
      this.#opts.telemetry?.scoringTime(station.id, (performance.now() - t0) / 1000);
    } catch (error) {
      return this.#failGroup(group, error);
    }
    const version = scorer.profile.meta.version;
    items.forEach((d, i) =>
      this.#publisher.scored({
        station,
        frame: d.frame,
        frameSize: { width: d.width, height: d.height },
        preview: d.preview,
        score: scores[i],
        version,
      })
    );
  }

  #failGroup({ station, items }: StationGroup, error: unknown): void {
    for (const d of items) {
      this.#publisher.fail(
        station,
        d.frame,
        FrameErrorReason.scoringFailed,
        `Scoring failed: ${reason(error)}`,
      );
    }
  }
}

/** A wake-up signal for the score loop: `wait` resolves on the next `notify` (or after `ms`). */
class Wake {
  #promise: Promise<void> | undefined;
  #resolve: (() => void) | undefined;

  wait(ms?: number): Promise<void> {
    this.#promise ??= new Promise((r) => this.#resolve = r);
    if (ms === undefined) return this.#promise;
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([this.#promise, new Promise<void>((r) => timer = setTimeout(r, ms))])
      .finally(() => clearTimeout(timer));
  }

  notify(): void {
    const resolve = this.#resolve;
    this.#promise = undefined;
    this.#resolve = undefined;
    resolve?.();
  }
}
