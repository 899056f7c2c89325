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
  type FrameScore,
  type PreparedFrame,
  prepareFrame,
  runVisionPass,
  type Scorer,
  selectFromPass,
  type VisionPass,
} from "../adp/mod.ts";
import type { Rgb8Image } from "../image/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import type { DecodePool } from "./decode_pool.ts";
import type { FrameIntake } from "./intake.ts";
import { FrameErrorReason } from "./messages.ts";
import { reason } from "./profile_store.ts";
import type { ResultPublisher } from "./publisher.ts";
import type { ProcessorTelemetry } from "./station_stats.ts";
import type { Frame, Station } from "./stations.ts";

/** Options of {@linkcode Batcher}. */
export interface BatcherOptions {
  /** Frames per model batch. */
  maxBatch: number;
  /** Longest wait for a batch to fill once a frame is ready. */
  maxWaitMs: number;
  /** The decode workers' pixel limit (the intake checked the header against the same one). */
  maxPixels: number;
  /** Where a batch failing outside scoring is reported. */
  log: (line: string) => void;
  /** Where queue, decode, model and scoring times are reported. */
  telemetry?: ProcessorTelemetry;
}

/** A frame back from a worker. */
interface Decoded {
  station: Station;
  frame: Frame;
  image: Rgb8Image;
  /** Made in the worker for the scorer in force at decode time; undefined when the station had none. */
  prepared: PreparedFrame | undefined;
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
  #finishing = false;

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

  /** Starts decoding while the pipeline has room: about two batches in flight. */
  pump(): void {
    const limit = 2 * this.#opts.maxBatch;
    while (this.#decoding + this.#ready.length < limit) {
      const next = this.#intake.take();
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
      try {
        await this.#scoreBatch(batch);
      } catch (error) {
        this.#opts.log(`error: batch failed outside scoring: ${reason(error)}`);
      }
    }
  }

  /** No frame will be queued any more: {@linkcode run} ends once the last one is answered. */
  finish(): void {
    this.#finishing = true;
    this.#wake.notify();
  }

  #decode(station: Station, frame: Frame): void {
    this.#decoding++;
    const preparation = station.slot.current?.preparation ?? null;
    const t0 = performance.now();
    this.#opts.telemetry?.queueWait(station.id, (t0 - frame.receivedAt) / 1000);
    this.#pool.decode(frame.bytes, this.#opts.maxPixels, preparation).then(
      ({ image, prepared }) => {
        this.#opts.telemetry?.decodeTime(station.id, (performance.now() - t0) / 1000);
        this.#ready.push({ station, frame, image, prepared });
      },
      (error) => {
        // The intake refused every header over the same pixel limit, so a frame failing here is one
        // that does not decode (or whose worker died on it), never one too large.
        this.#publisher.fail(station, frame, FrameErrorReason.undecodable, reason(error));
      },
    ).finally(() => {
      this.#decoding--;
      this.pump();
      this.#wake.notify();
    });
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
      const frames: PreparedFrame[] = [];
      const blocks = new Set<number>();
      for (const { scorer, items } of groups) {
        scorer.visionBlocks.forEach((b) => blocks.add(b));
        for (const d of items) frames.push(preparedFor(d, scorer));
      }
      let pass: VisionPass;
      const t0 = performance.now();
      try {
        pass = await runVisionPass(this.#clip, frames, [...blocks], { batch: this.#opts.maxBatch });
        this.#opts.telemetry?.modelPass(frames.length, (performance.now() - t0) / 1000);
      } catch (error) {
        for (const group of groups) this.#failGroup(group, error);
        return;
      }
      let at = 0;
      for (const group of groups) {
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

  /** Scores one station's frames from their rows of the pass, starting at row `at`, and publishes them. */
  async #scoreGroup(group: StationGroup, own: PreparedFrame[], pass: VisionPass, at: number): Promise<void> {
    const { station, scorer, items } = group;
    let scores: FrameScore[];
    const t0 = performance.now();
    try {
      scores = await scorer.scorePrepared(own, selectFromPass(pass, items.map((_, i) => at + i)));
      this.#opts.telemetry?.scoringTime(station.id, (performance.now() - t0) / 1000);
    } catch (error) {
      return this.#failGroup(group, error);
    }
    const version = scorer.profile.meta.version;
    items.forEach((d, i) =>
      this.#publisher.scored({ station, frame: d.frame, image: d.image, score: scores[i], version })
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

/** The frame as `scorer` needs it: the worker's preparation, or made here when it lacks an input. */
function preparedFor(d: Decoded, scorer: Scorer): PreparedFrame {
  const ready = d.prepared;
  if (ready && scorer.preparation.patchInputs.every((spec) => spec.key in ready.patchInputs)) return ready;
  return prepareFrame(d.image, scorer.preparation);
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
