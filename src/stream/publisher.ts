/**
 * Everything the processor says about frames: a result on `adp.results.<station>` for every frame
 * received (scored or not: nothing is dropped silently), and for anomalous ones an event on
 * `adp.anomalies.<station>` with the map's summary and a heat-map PNG kept in the object store or
 * the state dir. Heat maps are rendered in the decode workers and never delay a result.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { ObjectStore } from "@nats-io/obj";
import type { FrameScore } from "../adp/mod.ts";
import type { Rgb8Image } from "../image/mod.ts";
import { printable } from "../guard.ts";
import type { DecodePool } from "./decode_pool.ts";
import { summarizeMap } from "./heatmap.ts";
import {
  type AnomalyMessage,
  encodeMessage,
  FrameErrorReason,
  type HeatmapRef,
  type ModelRef,
  type ResultMessage,
} from "./messages.ts";
import { type HeatmapRetention, HeatmapStore } from "./heatmap_store.ts";
import { reason } from "./profile_store.ts";
import type { Frame, FrameRef, Station, StationTable } from "./stations.ts";
import { type BusFaultCounts, BusFaults } from "./bus_faults.ts";
import { anomaliesSubject, anomalyMsgId, Header, invalidResultsSubject, resultsSubject } from "./subjects.ts";

/** Frame ids remembered per station to tell a reused id from a retry. */
const EVENT_IDS_KEPT = 1024;

/** Anomaly events whose heat maps are being made at once; beyond it events go out without one. */
const MAX_PENDING_HEATMAPS = 32;

/** Options of {@linkcode ResultPublisher}. */
export interface PublisherOptions {
  /** The model named in every result. */
  model: ModelRef;
  /** Heat maps go under `<stateDir>/heatmaps/<station>` when there is no bucket. */
  stateDir: string;
  /** Longest side of heat-map PNGs. */
  heatmapMaxSide: number;
  /** Heat maps kept per station (count and bytes), in the state dir or the bucket. */
  heatmapRetention?: HeatmapRetention;
  /** With JetStream: anomaly events are stored durably (de-duplicated by frame id). */
  js?: JetStreamClient;
  /** With JetStream: where heat maps go instead of the state dir. */
  heatmapBucket?: ObjectStore;
  /** Where failed events and heat maps are reported. */
  log: (line: string) => void;
  /** Told of every anomalous verdict as it goes out (feedback keeps those frames longer). */
  flagged?: (station: string, frameId: string) => void;
}

/** A scored frame as the publisher needs it. */
export interface ScoredFrame {
  /** The station it came from. */
  station: Station;
  /** Its id, receipt time and bytes. */
  frame: Frame;
  /** The frame's size (map regions are given in its pixels). */
  frameSize: { width: number; height: number };
  /** The frame at the heat map's size; its pixels are handed to a worker for the heat map (unusable afterwards). */
  preview: Rgb8Image;
  /** What the station's scorer made of it. */
  score: FrameScore;
  /** Version of the profile that scored it. */
  version: number;
}

/** Publishes results and anomaly events, and stores heat maps. */
export class ResultPublisher {
  readonly #nc: NatsConnection;
  readonly #bus: BusFaults;
  readonly #stations: StationTable;
  readonly #pool: DecodePool;
  readonly #opts: PublisherOptions;
  readonly #anomalyTasks = new Set<Promise<void>>();
  readonly #heatmaps: HeatmapStore;
  #heatmapFailures = 0;

  /**
   * A publisher with no event pending.
   *
   * @param nc the connection results go out on
   * @param stations the table error results read the profile in force from
   * @param pool renders heat-map PNGs off the main thread
   * @param opts model, heat-map storage and log
   */
  constructor(nc: NatsConnection, stations: StationTable, pool: DecodePool, opts: PublisherOptions) {
    this.#bus = new BusFaults(nc, opts.log);
    this.#nc = nc;
    this.#stations = stations;
    this.#pool = pool;
    this.#opts = opts;
    this.#heatmaps = new HeatmapStore({
      stateDir: opts.stateDir,
      bucket: opts.heatmapBucket,
      retention: opts.heatmapRetention,
    });
  }

  /** The heat-map store (its per-station usage for the metrics). */
  get heatmaps(): HeatmapStore {
    return this.#heatmaps;
  }

  /** Disconnections from the bus, and results published while disconnected. */
  get busFaults(): BusFaultCounts {
    return this.#bus.counts;
  }

  /** Anomaly events whose heat map was skipped or failed. */
  get heatmapFailures(): number {
    return this.#heatmapFailures;
  }

  /** Publishes a scored frame's result, and for an anomalous one starts its event. */
  scored(scored: ScoredFrame): void {
    const { station, frame, score: s } = scored;
    const latencyMs = performance.now() - frame.receivedAt;
    const result: ResultMessage = {
      station: station.id,
      frameId: frame.frameId,
      capturedAt: frame.capturedAt,
      receivedAt: frame.receivedIso,
      scoredAt: new Date().toISOString(),
      score: s.score,
      textScore: s.textScore,
      patchScore: s.patchScore,
      threshold: s.threshold,
      anomalous: s.anomalous,
      profileVersion: scored.version,
      model: this.#opts.model,
      latencyMs: round(latencyMs),
    };
    station.stats.scored++;
    station.stats.latency(latencyMs);
    this.#publish(resultsSubject(station.id), result, frame);
    if (!s.anomalous) return;
    station.stats.anomalies++;
    this.#opts.flagged?.(station.id, frame.frameId);
    const task = this.#anomalyEvent(scored, result).catch((error) =>
      this.#opts.log(`error: anomaly event of ${station.id}/${frame.frameId} failed: ${reason(error)}`)
    );
    this.#anomalyTasks.add(task);
    task.finally(() => this.#anomalyTasks.delete(task));
  }

  /** Answers a frame that will not be scored, and counts it under `why`. */
  fail(station: Station, ref: FrameRef, why: FrameErrorReason, error: string): void {
    station.stats.drop(why);
    this.#publish(resultsSubject(station.id), this.#errorResult(station.id, ref, why, error), ref);
  }

  /**
   * Answers a frame of a station without a usable profile, saying whether it is enrolling its
   * first one, has none or has a refused one.
   */
  failNoProfile(station: Station, ref: FrameRef, enrolling = false): void {
    if (enrolling) {
      this.fail(
        station,
        ref,
        FrameErrorReason.enrolling,
        `Not scored: station ${station.id} is enrolling and has no profile in force yet`,
      );
    } else if (station.profileError) {
      this.fail(station, ref, FrameErrorReason.profileInvalid, `Profile refused: ${station.profileError}`);
    } else {
      this.fail(
        station,
        ref,
        FrameErrorReason.noProfile,
        `No profile: station ${station.id} has not been enrolled (request adp.enroll.${station.id})`,
      );
    }
  }

  /** Answers a frame whose subject names no station it may track, on `adp.results.$invalid`. */
  invalidStation(token: string, ref: FrameRef, error?: string): void {
    const message = error ??
      `Station id ${JSON.stringify(printable(token))} is invalid: frames go to adp.frames.<station> ` +
        `with 1–64 characters of A–Z, a–z, 0–9, _ and -`;
    this.#publish(
      invalidResultsSubject(),
      this.#errorResult(printable(token), ref, FrameErrorReason.invalidStation, message),
      ref,
    );
  }

  /** Resolves once every anomaly event started so far has gone out. */
  async settled(): Promise<void> {
    while (this.#anomalyTasks.size) await Promise.all([...this.#anomalyTasks]);
  }

  /**
   * The storage name of a frame's event: its id, or, when the station's id was used before for
   * other bytes (a camera whose counter restarted), the id with a digest of the bytes, so a reused
   * id never overwrites an earlier heat map or event. The same bytes again (a retry) keep the name,
   * and stay de-duplicated.
   */
  #eventName(station: Station, frame: Frame): string {
    const digest = createHash("sha256").update(frame.bytes).digest("hex").slice(0, 16);
    const seen = station.eventDigests ??= new Map();
    const first = seen.get(frame.frameId);
    if (first === undefined) {
      seen.set(frame.frameId, digest);
      if (seen.size > EVENT_IDS_KEPT) seen.delete(seen.keys().next().value!);
    }
    return first === undefined || first === digest ? frame.frameId : `${frame.frameId}.${digest}`;
  }

  async #anomalyEvent(scored: ScoredFrame, result: ResultMessage): Promise<void> {
    const { station, frame, frameSize, score: s } = scored;
    const map = summarizeMap(s.map, { width: s.mapWidth, height: s.mapHeight }, frameSize);
    const name = this.#eventName(station, frame);
    const { heatmap, heatmapError } = await this.#heatmap(scored, name);
    if (heatmapError) this.#heatmapFailures++;
    const event: AnomalyMessage = {
      ...result,
      score: s.score,
      threshold: s.threshold,
      anomalous: true,
      profileVersion: result.profileVersion!,
      frameWidth: frameSize.width,
      frameHeight: frameSize.height,
      map,
      heatmap,
      ...(heatmapError ? { heatmapError } : {}),
    };
    const subject = anomaliesSubject(station.id);
    if (this.#opts.js) {
      try {
        await this.#opts.js.publish(subject, encodeMessage(event), {
          msgID: anomalyMsgId(station.id, name),
          headers: frameHeaders(frame.frameId),
        });
        return;
      } catch (error) {
        // Live consumers still get the event; only its durable copy is missing.
        this.#opts.log(
          `warning: anomaly event ${station.id}/${frame.frameId} not stored in JetStream: ${reason(error)}`,
        );
      }
    }
    this.#publish(subject, event);
  }

  /** The frame's heat map rendered and stored, or why there is none. */
  async #heatmap(
    scored: ScoredFrame,
    name: string,
  ): Promise<{ heatmap: HeatmapRef | null; heatmapError?: string }> {
    if (this.#anomalyTasks.size > MAX_PENDING_HEATMAPS) {
      return {
        heatmap: null,
        heatmapError: `Heat map skipped: more than ${MAX_PENDING_HEATMAPS} anomaly events were pending`,
      };
    }
    const { station, preview, score: s } = scored;
    try {
      const png = await this.#pool.overlayPng(
        preview,
        { data: s.map, width: s.mapWidth, height: s.mapHeight },
        this.#opts.heatmapMaxSide,
      );
      return { heatmap: await this.#heatmaps.put(station.id, name, png) };
    } catch (error) {
      return { heatmap: null, heatmapError: `Heat map not stored: ${reason(error)}` };
    }
  }

  #errorResult(station: string, ref: FrameRef, why: FrameErrorReason, error: string): ResultMessage {
    const slot = this.#stations.get(station)?.slot.current;
    return {
      station,
      frameId: ref.frameId,
      capturedAt: ref.capturedAt,
      receivedAt: ref.receivedIso,
      scoredAt: new Date().toISOString(),
      score: null,
      textScore: null,
      patchScore: null,
      threshold: slot?.profile.meta.threshold ?? null,
      anomalous: null,
      profileVersion: slot?.profile.meta.version ?? null,
      model: this.#opts.model,
      latencyMs: round(performance.now() - ref.receivedAt),
      error,
      reason: why,
    };
  }

  /** Publishes a frame's answer, then settles the frame (after it on the connection: the server sees the answer first). */
  #publish(subject: string, message: ResultMessage, ref?: FrameRef): void {
    if (this.#nc.isClosed()) return;
    this.#bus.published(message.station);
    const headers = frameHeaders(message.frameId);
    if (ref?.durable) headers.set("Nats-Msg-Id", `${message.station}.${ref.durable.resultId}`);
    this.#nc.publish(subject, encodeMessage(message), { headers });
    ref?.durable?.settle();
  }
}

function frameHeaders(frameId: string): MsgHdrs {
  const h = natsHeaders();
  h.set(Header.frameId, frameId);
  return h;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
