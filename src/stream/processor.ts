/**
 * The stream processor behind `adp serve`: frames in on `adp.frames.>` (queue group), a verdict out
 * on `adp.results.<station>` for every one of them, anomaly events with a heat map on
 * `adp.anomalies.<station>`, enrollment jobs, and the `adp` micro service.
 *
 * The path of a frame: cheap checks on the main thread (station id, size, image header) → the
 * station's bounded queue (when full, the oldest waiting frame is dropped with an `overload`
 * result, so the newest frames are kept) → decoding and preparing (resize, normalise) in a worker →
 * the ready list → a batch of up to `maxBatch` frames from any stations, formed within `maxWaitMs` →
 * one vision pass over the whole batch → each station's scorer on its rows → results published.
 * Frames are taken from the station queues round-robin, so one busy camera cannot starve
 * the others. Every frame that is not scored gets a result carrying `error` and `reason`, and is
 * counted; nothing is dropped silently. `stop()` drains: frames already received are all answered.
 *
 * @module
 */
import { printable } from "../guard.ts";
import { basename, join } from "node:path";
import { createHash } from "node:crypto";
import {
  headers as natsHeaders,
  type Msg,
  nanos,
  type NatsConnection,
  nuid,
  type Subscription,
} from "@nats-io/transport-node";
import { jetstream, type JetStreamClient, jetstreamManager } from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";
import { type KV, Kvm } from "@nats-io/kv";
import type { Service } from "@nats-io/services";
import {
  createScorer,
  type FrameScore,
  type PreparedFrame,
  prepareFrame,
  runVisionPass,
  type Scorer,
  selectFromPass,
  type StationProfile,
  type VisionPass,
} from "../adp/mod.ts";
import { DEFAULT_MAX_PIXELS, type ImageHeader, readImageHeader, type Rgb8Image } from "../image/mod.ts";
import { ImageError } from "../errors.ts";
import type { ClipModel } from "../model/mod.ts";
import { DecodePool } from "./decode_pool.ts";
import { EnrollmentManager } from "./enrollment.ts";
import { RequestRefusedError, ServiceErrorCode } from "./errors.ts";
import { FrameRing } from "./frame_ring.ts";
import { summarizeMap } from "./heatmap.ts";
import {
  type AnomalyMessage,
  encodeMessage,
  FrameErrorReason,
  type HeatmapRef,
  type ModelRef,
  parseCapturedAt,
  parseFrameId,
  type ProfileListReply,
  type ResultMessage,
  type StationStatus,
  type StatusReply,
  type ThresholdSetReply,
  type ThresholdSetRequest,
} from "./messages.ts";
import { type ProfileChange, ProfileStore, reason, type StoredProfile } from "./profile_store.ts";
import { ScorerSlot } from "./scorer_slot.ts";
import { startServiceApi } from "./service_api.ts";
import { StationStats } from "./station_stats.ts";
import {
  anomaliesSubject,
  anomalyMsgId,
  FRAMES_WILDCARD,
  Header,
  invalidResultsSubject,
  isStationId,
  JetStreamName,
  resultsSubject,
  SubjectPrefix,
  subjectRest,
} from "./subjects.ts";

/** Configuration of {@linkcode startProcessor}. */
export interface ProcessorConfig {
  /** The loaded model every station is scored with. */
  clip: ClipModel;
  /** Profiles, job records and (without JetStream) heat maps live here. */
  stateDir: string;
  /** Queue group of the frame and enrollment subscriptions and the profile endpoints. @default "adp" */
  queueGroup?: string;
  /** Share profiles through an object store, keep anomalies in a stream, heat maps in a bucket. @default false */
  jetstream?: boolean;
  /** Frames per model batch. @default 8 */
  maxBatch?: number;
  /** Longest wait for a batch to fill once a frame is ready. @default 10 */
  maxWaitMs?: number;
  /** Larger payloads are refused before decoding. @default 8 MiB */
  maxFrameBytes?: number;
  /** Images whose header announces more pixels are refused before decoding. @default 50 M */
  maxPixels?: number;
  /** Frames waiting per station before the oldest is dropped. @default 2 × maxBatch */
  queueDepth?: number;
  /** Decode workers. @default cores − 1, 1 to 4 */
  workers?: number;
  /**
   * A backbone JSON (`../shared/models/proxy/backbone.json` is one) for the patch branch of the
   * enrollments this instance runs; profiles record it, so scoring needs no setting.
   * @default {CLIP's own patch tokens}
   */
  backbone?: string;
  /** Recent frames kept per station for enrollment by frame id. @default 16 */
  ringSize?: number;
  /** How long an enrollment waits for the station's next frames. @default 120000 */
  collectTimeoutMs?: number;
  /** Longest side of heat-map PNGs. @default 512 */
  heatmapMaxSide?: number;
  /** Heat maps kept per station in the state dir (without JetStream). @default 200 */
  heatmapsPerStation?: number;
  /** How long heat maps stay in the object store bucket. @default 7 days */
  heatmapTtlMs?: number;
  /** Stations tracked at most (a camera may invent ids). @default 4096 */
  maxStations?: number;
  /** The model's name in events. @default the model folder's name */
  modelId?: string;
  /** This instance's id in status and logs. @default a fresh NUID */
  instance?: string;
  /** @default console.error */
  log?: (line: string) => void;
}

/** A running processor. */
export interface Processor extends AsyncDisposable {
  readonly instance: string;
  /** Resolves when the processor has stopped: void after `stop()`, an Error when the connection ended it. */
  readonly closed: Promise<void | Error>;
  /** The status endpoint's reply for this instance. */
  status(): StatusReply;
  /** Stops taking frames, answers every frame already received, cancels enrollment jobs, stops the service. */
  stop(): Promise<void>;
}

interface Frame {
  station: string;
  frameId: string;
  capturedAt: string | null;
  receivedAt: number;
  receivedIso: string;
  bytes: Uint8Array;
  header: ImageHeader;
}

type FrameRef = Pick<Frame, "frameId" | "capturedAt" | "receivedAt" | "receivedIso">;

interface Decoded {
  frame: Frame;
  image: Rgb8Image;
  /** Made in the worker for the scorer in force at decode time; undefined when the station had none. */
  prepared: PreparedFrame | undefined;
}

interface Station {
  id: string;
  slot: ScorerSlot;
  profileError: string | null;
  stats: StationStats;
  queue: Frame[];
  /** Heat-map files written, oldest first (state dir only). */
  heatmaps?: string[];
}

/** Anomaly events whose heat maps are being made at once; beyond it events go out without one. */
const MAX_PENDING_HEATMAPS = 32;

/**
 * Starts the processor on a connection: loads every profile in the state dir (a refused one does
 * not stop the others), subscribes to frames and enrollment requests, and registers the service.
 *
 * @param nc a connection (the caller closes it after `stop()`)
 * @param cfg model, state dir and limits
 * @returns the running processor
 */
export async function startProcessor(nc: NatsConnection, cfg: ProcessorConfig): Promise<Processor> {
  const impl = new ProcessorImpl(nc, cfg);
  await impl.start();
  return impl;
}

class ProcessorImpl implements Processor {
  readonly instance: string;
  readonly closed: Promise<void | Error>;
  readonly #nc: NatsConnection;
  readonly #clip: ClipModel;
  readonly #cfg:
    & Required<Omit<ProcessorConfig, "clip" | "modelId" | "instance" | "workers" | "log" | "backbone">>
    & Pick<ProcessorConfig, "backbone">;
  readonly #log: (line: string) => void;
  readonly #model: ModelRef;
  readonly #stations = new Map<string, Station>();
  readonly #ring: FrameRing;
  readonly #pool: DecodePool;
  #store!: ProfileStore;
  #enrollment!: EnrollmentManager;
  #service: Service | undefined;
  #js: JetStreamClient | undefined;
  #heatmapBucket: ObjectStore | undefined;
  #framesSub: Subscription | undefined;
  #framesLoop: Promise<void> | undefined;
  #scoreLoop: Promise<void> | undefined;
  /** Stations with frames waiting, in the order they are served. */
  #pendingStations: string[] = [];
  #decoding = 0;
  #ready: Decoded[] = [];
  readonly #anomalyTasks = new Set<Promise<void>>();
  readonly #wake = new Wake();
  #invalidStationFrames = 0;
  #heatmapFailures = 0;
  #framesDone = false;
  #stopping: Promise<void> | undefined;
  #closeError: Error | undefined;
  #resolveClosed!: (v: void | Error) => void;
  readonly #startedAt = new Date().toISOString();

  constructor(nc: NatsConnection, cfg: ProcessorConfig) {
    this.#nc = nc;
    this.#clip = cfg.clip;
    this.instance = cfg.instance ?? nuid.next();
    this.#log = cfg.log ?? ((line) => console.error(line));
    const maxBatch = cfg.maxBatch ?? 8;
    this.#cfg = {
      stateDir: cfg.stateDir,
      queueGroup: cfg.queueGroup ?? "adp",
      jetstream: cfg.jetstream ?? false,
      maxBatch,
      maxWaitMs: cfg.maxWaitMs ?? 10,
      maxFrameBytes: cfg.maxFrameBytes ?? 8 * 1024 * 1024,
      maxPixels: cfg.maxPixels ?? DEFAULT_MAX_PIXELS,
      queueDepth: cfg.queueDepth ?? 2 * maxBatch,
      ringSize: cfg.ringSize ?? 16,
      collectTimeoutMs: cfg.collectTimeoutMs ?? 120_000,
      heatmapMaxSide: cfg.heatmapMaxSide ?? 512,
      heatmapsPerStation: cfg.heatmapsPerStation ?? 200,
      heatmapTtlMs: cfg.heatmapTtlMs ?? 7 * 24 * 3600 * 1000,
      maxStations: cfg.maxStations ?? 4096,
      backbone: cfg.backbone,
    };
    this.#model = { id: cfg.modelId ?? basename(cfg.clip.dir), hash: cfg.clip.hash };
    this.#ring = new FrameRing({ perStation: this.#cfg.ringSize });
    this.#pool = new DecodePool(cfg.workers);
    this.closed = new Promise((r) => this.#resolveClosed = r);
  }

  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (error) {
      this.#pool.terminate();
      await this.#service?.stop().catch(() => {});
      if (this.#framesSub && !this.#framesSub.isClosed()) this.#framesSub.unsubscribe();
      throw error;
    }
  }

  async #start(): Promise<void> {
    const { stateDir, queueGroup } = this.#cfg;
    await Deno.mkdir(stateDir, { recursive: true });
    let profileBucket: ObjectStore | undefined;
    let locks: KV | undefined;
    if (this.#cfg.jetstream) {
      ({ profileBucket, locks } = await this.#setupJetStream());
    }
    this.#store = new ProfileStore(stateDir, { bucket: profileBucket, log: this.#log });
    const { loaded, refused } = await this.#store.loadAll();
    for (const stored of loaded) this.#installLoaded(stored);
    for (const { station, error } of refused) {
      this.#station(station).profileError = error;
      this.#log(`station ${station} refuses to score: ${error}`);
    }

    this.#enrollment = new EnrollmentManager(this.#nc, {
      clip: this.#clip,
      ring: this.#ring,
      currentVersion: (station) => this.#stations.get(station)?.slot.current?.profile.meta.version ?? 0,
      install: (station, profile) => this.#install(station, profile),
      log: this.#log,
    }, {
      stateDir,
      queueGroup,
      instance: this.instance,
      collectTimeoutMs: this.#cfg.collectTimeoutMs,
      locks,
      backbone: this.#cfg.backbone,
    });
    await this.#enrollment.recoverInterrupted();
    this.#enrollment.start();

    this.#scoreLoop = this.#runScoreLoop();
    this.#framesSub = this.#nc.subscribe(FRAMES_WILDCARD, { queue: queueGroup });
    this.#framesLoop = (async () => {
      for await (const msg of this.#framesSub!) {
        try {
          this.#onFrame(msg);
        } catch (error) {
          // A bug on one frame must not end the subscription for every camera.
          this.#log(`error: frame on ${printable(msg.subject)} not handled: ${reason(error)}`);
        }
      }
    })().catch((error) => this.#log(`error: frame subscription ended: ${reason(error)}`));

    this.#service = await startServiceApi(this.#nc, this, {
      queueGroup,
      metadata: {
        instance: this.instance,
        model: this.#model.id,
        model_sha256: this.#model.hash,
        jetstream: String(this.#cfg.jetstream),
      },
    });
    await this.#store.watch((change) => this.#onSharedChange(change));
    // Once this returns, the server knows every subscription: no request or frame sent after it is missed.
    await this.#nc.flush();
    this.#nc.closed().then((error) => {
      if (this.#stopping) return;
      this.#closeError = error ?? new Error("The NATS connection was closed");
      this.#log(`error: the NATS connection closed: ${this.#closeError.message}; stopping`);
      this.stop();
    });
    this.#log(
      `adp serve ${this.instance}: ${loaded.length} profile(s) loaded${
        refused.length ? `, ${refused.length} refused` : ""
      }; ${this.#pool.size} decode worker(s); queue group ${queueGroup}${
        this.#cfg.jetstream ? "; JetStream on" : ""
      }`,
    );
  }

  async #setupJetStream(): Promise<{ profileBucket: ObjectStore; locks: KV }> {
    const jsm = await jetstreamManager(this.#nc);
    const stream = {
      name: JetStreamName.anomalyStream,
      subjects: [`${SubjectPrefix.anomalies}.*`],
      duplicate_window: nanos(2 * 60 * 1000),
      max_age: nanos(30 * 24 * 3600 * 1000),
    };
    try {
      await jsm.streams.add(stream);
    } catch (error) {
      // An operator may have created it with other limits: use it as it is.
      await jsm.streams.info(stream.name).catch(() => {
        throw error;
      });
      this.#log(`stream ${stream.name} exists with its own settings: using it (${reason(error)})`);
    }
    this.#js = jetstream(this.#nc);
    const objm = new Objm(this.#nc);
    const profileBucket = await objm.create(JetStreamName.profileBucket, {
      description: "ADP Edge station profiles, shared by the instances of a queue group",
    });
    this.#heatmapBucket = await objm.create(JetStreamName.heatmapBucket, {
      description: "ADP Edge heat-map overlays of anomalous frames",
      ttl: nanos(this.#cfg.heatmapTtlMs),
    });
    const locks = await new Kvm(this.#nc).create(JetStreamName.enrollLocks, {
      description: "ADP Edge: one key per station while it enrolls",
      ttl: 3600 * 1000,
    });
    return { profileBucket, locks };
  }

  // -------------------------------------------------------------------------------------------
  // Frames in

  #onFrame(msg: Msg): void {
    const receivedAt = performance.now();
    const ref: FrameRef = {
      frameId: parseFrameId(msg.headers?.get(Header.frameId)) ?? nuid.next(),
      capturedAt: parseCapturedAt(msg.headers?.get(Header.capturedAt)),
      receivedAt,
      receivedIso: new Date().toISOString(),
    };
    const token = subjectRest(msg.subject, SubjectPrefix.frames) ?? msg.subject;
    if (!isStationId(token)) {
      this.#invalidStationFrames++;
      return this.#publishInvalidStation(token, ref);
    }
    let station = this.#stations.get(token);
    if (!station) {
      if (this.#stations.size >= this.#cfg.maxStations) {
        this.#invalidStationFrames++;
        return this.#publishInvalidStation(
          token,
          ref,
          `Too many stations: this service tracks at most ${this.#cfg.maxStations}, and ${token} is not one of them`,
        );
      }
      station = this.#station(token);
    }
    station.stats.received++;
    const data = msg.data;
    if (data.length === 0) {
      return this.#fail(station, ref, FrameErrorReason.empty, "Frame is empty: zero bytes");
    }
    if (data.length > this.#cfg.maxFrameBytes) {
      return this.#fail(
        station,
        ref,
        FrameErrorReason.tooLarge,
        `Frame is too large: ${data.length} bytes, the limit is ${this.#cfg.maxFrameBytes} (--max-frame-bytes)`,
      );
    }
    let header: ImageHeader;
    try {
      header = readImageHeader(data);
    } catch (error) {
      return this.#fail(station, ref, FrameErrorReason.undecodable, reason(error));
    }
    const pixels = header.width * header.height;
    if (pixels > this.#cfg.maxPixels) {
      return this.#fail(
        station,
        ref,
        FrameErrorReason.tooLarge,
        `Image is too large: its header announces ${header.width}×${header.height} = ${pixels} pixels, ` +
          `the limit is ${this.#cfg.maxPixels} (--max-pixels)`,
      );
    }
    // Our own copy: msg.data is a view into the connection's read buffer.
    const bytes = data.slice();
    this.#ring.add(token, ref.frameId, bytes);
    this.#enrollment.offer(token, ref.frameId, bytes);
    if (!station.slot.current) return this.#failNoProfile(station, ref);
    const frame: Frame = { ...ref, station: token, bytes, header };
    if (station.queue.length >= this.#cfg.queueDepth) {
      const dropped = station.queue.shift()!;
      this.#fail(
        station,
        dropped,
        FrameErrorReason.overload,
        `Frame dropped: the service is overloaded and keeps the newest ${this.#cfg.queueDepth} frames of ${token}`,
      );
    }
    station.queue.push(frame);
    if (station.queue.length === 1) this.#pendingStations.push(token);
    this.#pump();
  }

  /** Starts decoding while the pipeline has room: about two batches in flight. */
  #pump(): void {
    const limit = 2 * this.#cfg.maxBatch;
    while (this.#decoding + this.#ready.length < limit && this.#pendingStations.length) {
      const id = this.#pendingStations.shift()!;
      const station = this.#stations.get(id)!;
      const frame = station.queue.shift()!;
      if (station.queue.length) this.#pendingStations.push(id);
      this.#decoding++;
      const preparation = station.slot.current?.preparation ?? null;
      this.#pool.decode(frame.bytes, this.#cfg.maxPixels, preparation).then(
        ({ image, prepared }) => {
          this.#ready.push({ frame, image, prepared });
        },
        (error) => {
          const kind = error instanceof ImageError && /too large/i.test(error.message)
            ? FrameErrorReason.tooLarge
            : FrameErrorReason.undecodable;
          this.#fail(station, frame, kind, reason(error));
        },
      ).finally(() => {
        this.#decoding--;
        this.#pump();
        this.#wake.notify();
      });
    }
  }

  #idle(): boolean {
    return !this.#pendingStations.length && this.#decoding === 0 && !this.#ready.length;
  }

  async #runScoreLoop(): Promise<void> {
    const { maxBatch, maxWaitMs } = this.#cfg;
    while (true) {
      if (!this.#ready.length) {
        if (this.#framesDone && this.#idle()) return;
        await this.#wake.wait();
        continue;
      }
      const deadline = performance.now() + maxWaitMs;
      while (this.#ready.length < maxBatch && (this.#decoding > 0 || this.#pendingStations.length > 0)) {
        const left = deadline - performance.now();
        if (left <= 0) break;
        await this.#wake.wait(left);
      }
      const batch = this.#ready.splice(0, maxBatch);
      this.#pump();
      try {
        await this.#scoreBatch(batch);
      } catch (error) {
        this.#log(`error: batch failed outside scoring: ${reason(error)}`);
      }
    }
  }

  /**
   * Scores a batch from any stations with one vision pass: each station's scorer then takes its
   * frames' rows. A frame prepared for a scorer that has since been swapped is prepared again here.
   */
  async #scoreBatch(batch: Decoded[]): Promise<void> {
    const groups = new Map<string, { station: Station; scorer: Scorer; items: Decoded[] }>();
    for (const d of batch) {
      const group = groups.get(d.frame.station);
      if (group) {
        group.items.push(d);
        continue;
      }
      const station = this.#stations.get(d.frame.station)!;
      const scorer = station.slot.acquire();
      if (!scorer) this.#failNoProfile(station, d.frame);
      else groups.set(station.id, { station, scorer, items: [d] });
    }
    if (!groups.size) return;
    try {
      const frames: PreparedFrame[] = [];
      const blocks = new Set<number>();
      for (const { scorer, items } of groups.values()) {
        scorer.visionBlocks.forEach((b) => blocks.add(b));
        for (const d of items) frames.push(this.#preparedFor(d, scorer));
      }
      let pass: VisionPass | undefined;
      try {
        pass = await runVisionPass(this.#clip, frames, [...blocks], { batch: this.#cfg.maxBatch });
      } catch (error) {
        for (const { station, items } of groups.values()) {
          for (const d of items) {
            this.#fail(station, d.frame, FrameErrorReason.scoringFailed, `Scoring failed: ${reason(error)}`);
          }
        }
        return;
      }
      let at = 0;
      for (const { station, scorer, items } of groups.values()) {
        const rows = items.map((_, i) => at + i);
        const own = frames.slice(at, at + items.length);
        at += items.length;
        let scores: FrameScore[];
        try {
          scores = await scorer.scorePrepared(own, selectFromPass(pass, rows));
        } catch (error) {
          for (const d of items) {
            this.#fail(station, d.frame, FrameErrorReason.scoringFailed, `Scoring failed: ${reason(error)}`);
          }
          continue;
        }
        const version = scorer.profile.meta.version;
        items.forEach((d, i) => this.#publishScore(station, d, scores[i], version));
      }
    } finally {
      for (const { station, scorer } of groups.values()) station.slot.release(scorer);
    }
  }

  /** The frame as `scorer` needs it: the worker's preparation, or made here when it lacks an input. */
  #preparedFor(d: Decoded, scorer: Scorer): PreparedFrame {
    const ready = d.prepared;
    if (ready && scorer.preparation.patchInputs.every((spec) => spec.key in ready.patchInputs)) return ready;
    return prepareFrame(d.image, scorer.preparation);
  }

  // -------------------------------------------------------------------------------------------
  // Results out

  #publishScore(station: Station, d: Decoded, s: FrameScore, version: number): void {
    const latencyMs = performance.now() - d.frame.receivedAt;
    const result: ResultMessage = {
      station: station.id,
      frameId: d.frame.frameId,
      capturedAt: d.frame.capturedAt,
      receivedAt: d.frame.receivedIso,
      scoredAt: new Date().toISOString(),
      score: s.score,
      textScore: s.textScore,
      patchScore: s.patchScore,
      threshold: s.threshold,
      anomalous: s.anomalous,
      profileVersion: version,
      model: this.#model,
      latencyMs: round(latencyMs),
    };
    station.stats.scored++;
    station.stats.latency(latencyMs);
    this.#publish(resultsSubject(station.id), result);
    if (!s.anomalous) return;
    station.stats.anomalies++;
    const task = this.#anomalyEvent(station, d, s, result).catch((error) =>
      this.#log(`error: anomaly event of ${station.id}/${d.frame.frameId} failed: ${reason(error)}`)
    );
    this.#anomalyTasks.add(task);
    task.finally(() => this.#anomalyTasks.delete(task));
  }

  async #anomalyEvent(station: Station, d: Decoded, s: FrameScore, result: ResultMessage): Promise<void> {
    const { image, frame } = d;
    const frameSize = { width: image.width, height: image.height };
    const map = summarizeMap(s.map, { width: s.mapWidth, height: s.mapHeight }, frameSize);
    let heatmap: HeatmapRef | null = null;
    let heatmapError: string | undefined;
    if (this.#anomalyTasks.size > MAX_PENDING_HEATMAPS) {
      heatmapError = `Heat map skipped: more than ${MAX_PENDING_HEATMAPS} anomaly events were pending`;
    } else {
      try {
        const png = await this.#pool.overlayPng(
          image,
          { data: s.map, width: s.mapWidth, height: s.mapHeight },
          this.#cfg.heatmapMaxSide,
        );
        heatmap = await this.#storeHeatmap(station, frame.frameId, png);
      } catch (error) {
        heatmapError = `Heat map not stored: ${reason(error)}`;
      }
    }
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
    if (this.#js) {
      try {
        await this.#js.publish(subject, encodeMessage(event), {
          msgID: anomalyMsgId(station.id, frame.frameId),
          headers: this.#frameHeaders(frame.frameId),
        });
        return;
      } catch (error) {
        // Live consumers still get the event; only its durable copy is missing.
        this.#log(
          `warning: anomaly event ${station.id}/${frame.frameId} not stored in JetStream: ${reason(error)}`,
        );
      }
    }
    this.#publish(subject, event);
  }

  async #storeHeatmap(
    station: Station,
    frameId: string,
    png: { png: Uint8Array; width: number; height: number },
  ): Promise<HeatmapRef> {
    const common = { width: png.width, height: png.height, contentType: "image/png" as const };
    if (this.#heatmapBucket) {
      const key = `${station.id}/${frameId}.png`;
      await this.#heatmapBucket.putBlob({ name: key }, png.png);
      return { store: "object-store", bucket: JetStreamName.heatmapBucket, key, ...common };
    }
    const dir = join(this.#cfg.stateDir, "heatmaps", station.id);
    await Deno.mkdir(dir, { recursive: true });
    station.heatmaps ??= await existingHeatmaps(dir);
    const file = `${fileSafe(frameId)}.png`;
    await Deno.writeFile(join(dir, file), png.png);
    station.heatmaps.push(file);
    while (station.heatmaps.length > this.#cfg.heatmapsPerStation) {
      await Deno.remove(join(dir, station.heatmaps.shift()!)).catch(() => {});
    }
    return { store: "file", key: join("heatmaps", station.id, file), ...common };
  }

  #failNoProfile(station: Station, ref: FrameRef): void {
    if (station.profileError) {
      this.#fail(station, ref, FrameErrorReason.profileInvalid, `Profile refused: ${station.profileError}`);
    } else {
      this.#fail(
        station,
        ref,
        FrameErrorReason.noProfile,
        `No profile: station ${station.id} has not been enrolled (request adp.enroll.${station.id})`,
      );
    }
  }

  #fail(station: Station, ref: FrameRef, why: FrameErrorReason, error: string): void {
    station.stats.drop(why);
    this.#publish(resultsSubject(station.id), this.#errorResult(station.id, ref, why, error));
  }

  #publishInvalidStation(token: string, ref: FrameRef, error?: string): void {
    const message = error ??
      `Station id ${JSON.stringify(printable(token))} is invalid: frames go to adp.frames.<station> ` +
        `with 1–64 characters of A–Z, a–z, 0–9, _ and -`;
    this.#publish(
      invalidResultsSubject(),
      this.#errorResult(printable(token), ref, FrameErrorReason.invalidStation, message),
    );
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
      model: this.#model,
      latencyMs: round(performance.now() - ref.receivedAt),
      error,
      reason: why,
    };
  }

  #publish(subject: string, message: ResultMessage): void {
    if (this.#nc.isClosed()) return;
    this.#nc.publish(subject, encodeMessage(message), { headers: this.#frameHeaders(message.frameId) });
  }

  #frameHeaders(frameId: string) {
    const h = natsHeaders();
    h.set(Header.frameId, frameId);
    return h;
  }

  // -------------------------------------------------------------------------------------------
  // Stations and profiles

  #station(id: string): Station {
    let station = this.#stations.get(id);
    if (!station) {
      station = {
        id,
        slot: new ScorerSlot((error) => this.#log(`warning: scorer of ${id} not disposed: ${reason(error)}`)),
        profileError: null,
        stats: new StationStats(),
        queue: [],
      };
      this.#stations.set(id, station);
    }
    return station;
  }

  #installLoaded(stored: StoredProfile): void {
    const station = this.#station(stored.station);
    try {
      station.slot.swap(createScorer(this.#clip, stored.profile));
      station.profileError = null;
    } catch (error) {
      station.profileError = reason(error);
      this.#log(`station ${stored.station} refuses to score: ${station.profileError}`);
    }
  }

  /** Enrollment's last step: the new scorer must score a frame, then the profile is saved, then swapped in. */
  async #install(id: string, profile: StationProfile): Promise<number> {
    const scorer = createScorer(this.#clip, profile);
    try {
      const size = this.#clip.config.vision.imageSize;
      await scorer.scoreRgb([{ width: size, height: size, data: new Uint8Array(size * size * 3).fill(128) }]);
      await this.#store.save(id, profile);
    } catch (error) {
      await scorer.dispose().catch(() => {});
      throw error;
    }
    const station = this.#station(id);
    station.slot.swap(scorer);
    station.profileError = null;
    return profile.meta.version;
  }

  #onSharedChange(change: ProfileChange): void {
    const station = this.#station(change.station);
    if (change.kind === "delete") {
      station.slot.swap(undefined);
      this.#log(`profile of ${change.station} deleted by another instance`);
    } else if (change.kind === "refused") {
      this.#log(
        `warning: shared profile of ${change.station} refused, the current one stays: ${change.error}`,
      );
    } else {
      try {
        station.slot.swap(createScorer(this.#clip, change.stored.profile));
        station.profileError = null;
        this.#log(
          `profile of ${change.station} v${change.stored.profile.meta.version} taken from the shared bucket`,
        );
      } catch (error) {
        this.#log(
          `warning: shared profile of ${change.station} refused, the current one stays: ${reason(error)}`,
        );
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Service endpoints

  status(): StatusReply {
    const stations: StationStatus[] = [...this.#stations.values()].map((s) => {
      const meta = s.slot.current?.profile.meta;
      return {
        station: s.id,
        profileVersion: meta?.version ?? null,
        threshold: meta?.threshold ?? null,
        profileError: s.profileError,
        received: s.stats.received,
        scored: s.stats.scored,
        anomalies: s.stats.anomalies,
        dropped: { ...s.stats.dropped },
        latencyMs: s.stats.latencySummary(),
        queued: s.queue.length,
        enrolling: this.#enrollment.jobOf(s.id),
      };
    }).sort((a, b) => a.station.localeCompare(b.station));
    return {
      instance: this.instance,
      model: { ...this.#model, provider: this.#clip.provider },
      startedAt: this.#startedAt,
      queueGroup: this.#cfg.queueGroup,
      jetstream: this.#cfg.jetstream,
      workers: this.#pool.size,
      maxBatch: this.#cfg.maxBatch,
      maxWaitMs: this.#cfg.maxWaitMs,
      invalidStationFrames: this.#invalidStationFrames,
      heatmapFailures: this.#heatmapFailures,
      enrollQueue: this.#enrollment.queued,
      stations,
    };
  }

  listProfiles(): ProfileListReply {
    const profiles = [];
    const refused = [];
    for (const s of this.#stations.values()) {
      const meta = s.slot.current?.profile.meta;
      if (meta) {
        profiles.push({
          station: s.id,
          version: meta.version,
          threshold: meta.threshold,
          createdAt: meta.createdAt,
          label: meta.label ?? null,
          shots: meta.enrollment.shots,
          model: { id: meta.model.id, hash: meta.model.hash },
        });
      } else if (s.profileError) {
        refused.push({ station: s.id, error: s.profileError });
      }
    }
    profiles.sort((a, b) => a.station.localeCompare(b.station));
    return { profiles, refused };
  }

  getProfile(id: string): { station: string; meta: StationProfile["meta"] } {
    const scorer = this.#requireScorer(id);
    return { station: id, meta: scorer.profile.meta };
  }

  async deleteProfile(id: string): Promise<{ station: string; deleted: true; version: number | null }> {
    const station = this.#stations.get(id);
    const version = station?.slot.current?.profile.meta.version ?? null;
    const existed = await this.#store.remove(id);
    if (!existed && !station?.slot.current) {
      throw new RequestRefusedError(ServiceErrorCode.NOT_FOUND, `Station ${id} has no profile`);
    }
    if (station) {
      station.slot.swap(undefined);
      station.profileError = null;
    }
    this.#log(`profile of ${id} deleted`);
    return { station: id, deleted: true, version };
  }

  async setThreshold(req: ThresholdSetRequest): Promise<ThresholdSetReply> {
    const scorer = this.#requireScorer(req.station);
    const meta = scorer.profile.meta;
    const previous = meta.threshold;
    meta.threshold = req.threshold;
    try {
      await this.#store.save(req.station, scorer.profile);
    } catch (error) {
      meta.threshold = previous;
      throw error;
    }
    scorer.setThreshold(req.threshold);
    this.#log(`threshold of ${req.station} set to ${req.threshold} (was ${previous})`);
    return { station: req.station, threshold: req.threshold, previous, profileVersion: meta.version };
  }

  #requireScorer(id: string): Scorer {
    const scorer = this.#stations.get(id)?.slot.current;
    if (!scorer) {
      const why = this.#stations.get(id)?.profileError;
      throw new RequestRefusedError(
        ServiceErrorCode.NOT_FOUND,
        why ? `Station ${id} has no usable profile: ${why}` : `Station ${id} has no profile`,
      );
    }
    return scorer;
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const connected = !this.#nc.isClosed();
    await this.#enrollment.stop();
    if (connected && this.#framesSub && !this.#framesSub.isClosed()) {
      await this.#framesSub.drain().catch((error) => this.#log(`warning: drain failed: ${reason(error)}`));
    } else {
      this.#framesSub?.unsubscribe();
    }
    await this.#framesLoop;
    this.#framesDone = true;
    this.#wake.notify();
    await this.#scoreLoop;
    while (this.#anomalyTasks.size) await Promise.all([...this.#anomalyTasks]);
    await this.#service?.stop().catch(() => {});
    await this.#store.close();
    if (!this.#nc.isClosed()) await this.#nc.flush().catch(() => {});
    this.#pool.terminate();
    for (const s of this.#stations.values()) s.slot.swap(undefined);
    this.#log(`adp serve ${this.instance} stopped`);
    this.#resolveClosed(this.#closeError);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
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

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** A frame id as a file name: itself when harmless, else its hash (ids are the camera's, not ours). */
function fileSafe(frameId: string): string {
  if (/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(frameId)) return frameId;
  return createHash("sha256").update(frameId).digest("hex").slice(0, 32);
}

async function existingHeatmaps(dir: string): Promise<string[]> {
  const files: { name: string; mtime: number }[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !e.name.endsWith(".png")) continue;
    const info = await Deno.stat(join(dir, e.name)).catch(() => null);
    files.push({ name: e.name, mtime: info?.mtime?.getTime() ?? 0 });
  }
  return files.sort((a, b) => a.mtime - b.mtime).map((f) => f.name);
}
