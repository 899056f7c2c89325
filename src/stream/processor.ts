/**
 * The stream processor behind `adp serve`: frames in on `adp.frames.>` (queue group), a verdict out
 * on `adp.results.<station>` for every one of them, anomaly events with a heat map on
 * `adp.anomalies.<station>`, enrollment jobs, and the `adp` micro service.
 *
 * A frame goes intake (`intake.ts`: cheap checks, the station's bounded queue) → batcher
 * (`batcher.ts`: decoding in a worker, one vision pass per micro-batch) → publisher
 * (`publisher.ts`: results, events, heat maps); the profiles in force and their changes are
 * `station_profiles.ts`'s. This file holds what spans them: start-up (profiles, JetStream,
 * subscriptions, the service), the service endpoints, and `stop()`, which drains: frames already
 * received are all answered.
 *
 * @module
 */
import { printable } from "../guard.ts";
import { basename } from "node:path";
import { nanos, type NatsConnection, nuid, type Subscription } from "@nats-io/transport-node";
import type { BusConnection } from "./connect.ts";
import { jetstream, type JetStreamClient, jetstreamManager } from "@nats-io/jetstream";
import { type ObjectStore, Objm } from "@nats-io/obj";
import { type KV, Kvm } from "@nats-io/kv";
import type { Service } from "@nats-io/services";
import type { StationProfile } from "../adp/mod.ts";
import type { SdeditOptions } from "../diffusion/mod.ts";
import { DEFAULT_MAX_PIXELS } from "../image/mod.ts";
import { RunTurns } from "../onnx/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import { Batcher } from "./batcher.ts";
import { DecodePool } from "./decode_pool.ts";
import { type DurableFrames, startDurableFrames } from "./durable_frames.ts";
import { EnrollmentManager } from "./enrollment.ts";
import { ENROLL_LOCK_TTL_MS } from "./enroll_lock_view.ts";
import { FeedbackService } from "./feedback.ts";
import { FrameRing } from "./frame_ring.ts";
import { FrameIntake } from "./intake.ts";
import type {
  ModelRef,
  ProfileListReply,
  StatusReply,
  ThresholdSetReply,
  ThresholdSetRequest,
} from "./messages.ts";
import { ProfileStore, reason } from "./profile_store.ts";
import { DEFAULT_PROFILE_HISTORY } from "./profile_history.ts";
import { ProfileLifecycle } from "./profile_lifecycle.ts";
import type { HeatmapRetention, HeatmapUsage } from "./heatmap_store.ts";
import { ResultPublisher } from "./publisher.ts";
import type { RoiSetReply, RoiSetRequest } from "./roi_set.ts";
import { startServiceApi } from "./service_api.ts";
import type { ProcessorTelemetry } from "./station_stats.ts";
import { StationProfiles } from "./station_profiles.ts";
import { StationTable } from "./stations.ts";
import { parkedStatus, trackedStatus } from "./station_status.ts";
import { FRAMES_WILDCARD, JetStreamName, SubjectPrefix } from "./subjects.ts";

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
  /**
   * Images whose header announces a larger decode cost (pixels × working bytes per pixel × JPEG
   * scans) are refused before decoding. @default 200 M (a 12-megapixel baseline JPEG costs 144 M; on a loaded 2-core machine about 1.5 s)
   */
  maxDecodeCost?: number;
  /** A decode taking longer is stopped (its worker replaced) and the frame answered `too-large`. @default 5000 */
  decodeTimeoutMs?: number;
  /** Frames waiting per station before the oldest is dropped. @default 2 × maxBatch */
  queueDepth?: number;
  /**
   * How long `stop()` keeps scoring the frames still waiting; then they are answered `stopping`
   * (durable ones handed back to the stream), and only the frames already in the workers are finished.
   * @default 5000
   */
  stopGraceMs?: number;
  /** Decode workers. @default cores − 1, 2 to 4 */
  workers?: number;
  /**
   * A backbone JSON (`../shared/models/proxy/backbone.json` is one) for the patch branch of the
   * enrollments this instance runs; profiles record it, so scoring needs no setting.
   * @default {CLIP's own patch tokens}
   */
  backbone?: string;
  /** A Stable Diffusion folder for enrollments asking `synth: sd|mix` (see `EnrollmentOptions.sdModel`). */
  sdModel?: string;
  /** SDEdit's settings for those enrollments. @default {SD_DEFAULTS} */
  sdedit?: Partial<SdeditOptions>;
  /** Profile versions kept per station for rollback (oldest pruned). @default 20 */
  profileHistory?: number;
  /** Recent frames kept per station for enrollment by frame id. @default 16 */
  ringSize?: number;
  /** How long an enrollment waits for the station's next frames. @default 120000 */
  collectTimeoutMs?: number;
  /** Longest side of heat-map PNGs. @default 512 */
  heatmapMaxSide?: number;
  /** Heat maps kept per station, by count and bytes, in the state dir or the bucket. @default 200, 256 MiB */
  heatmapRetention?: HeatmapRetention;
  /** How long heat maps stay in the object store bucket. @default 7 days */
  heatmapTtlMs?: number;
  /**
   * Stations tracked at most (a camera may invent ids); beyond it the longest idle station with no
   * work in progress is forgotten, one without a profile first (a profile stays on disk, loaded
   * again on the station's next frame). @default 4096
   */
  maxStations?: number;
  /**
   * With `jetstream`: how long a delivered frame may stay unanswered before the stream delivers it
   * again (a frame still waiting here is marked in progress before then). @default 15000
   */
  frameAckWaitMs?: number;
  /** The model's name in events. @default the model folder's name */
  modelId?: string;
  /** This instance's id in status and logs. @default a fresh NUID */
  instance?: string;
  /** Where the service's log lines go. @default console.error */
  log?: (line: string) => void;
  /** Where latencies, batch sizes and enrollment outcomes are reported (metrics). */
  telemetry?: ProcessorTelemetry;
}

/** A running processor. */
export interface Processor extends AsyncDisposable {
  /** This instance's id (status replies, logs, job records). */
  readonly instance: string;
  /** Resolves when the processor has stopped: void after `stop()`, an Error when the connection ended it. */
  readonly closed: Promise<void | Error>;
  /** The status endpoint's reply for this instance. */
  status(): StatusReply;
  /** What each station holds in the heat-map store (count and bytes). */
  heatmapUsage(): Map<string, HeatmapUsage>;
  /** Sets a station's threshold and saves its profile (the threshold endpoint's work). */
  setThreshold(req: ThresholdSetRequest): Promise<ThresholdSetReply>;
  /** Stops taking frames, answers every frame already received, cancels enrollment jobs, stops the service. */
  stop(): Promise<void>;
}

/**
 * Starts the processor on a connection: loads every profile in the state dir (a refused one does
 * not stop the others), subscribes to frames and enrollment requests, and registers the service.
 *
 * @param nc a connection (the caller closes it after `stop()`)
 * @param cfg model, state dir and limits
 * @returns the running processor
 */
export async function startProcessor(nc: BusConnection, cfg: ProcessorConfig): Promise<Processor> {
  const impl = new ProcessorImpl(nc, cfg);
  await impl.start();
  return impl;
}

/** The default decode cost limit (pixels × working bytes per pixel × scans). */
export const DEFAULT_MAX_DECODE_COST = 200_000_000;

/**
 * How long stopping keeps scoring waiting frames by default. With the default decode budget (5 s)
 * and two ViT-B/16 batches on a CPU (about 3 s) it stays far inside systemd's 60 s stop timeout
 * (deploy/adp-edge.service), however many stations have frames waiting.
 */
export const DEFAULT_STOP_GRACE_MS = 5000;

/** What JetStream adds: durable anomaly events, shared profiles, heat maps in a bucket, enrollment locks. */
interface SharedState {
  js: JetStreamClient;
  profileBucket: ObjectStore;
  heatmapBucket: ObjectStore;
  locks: KV;
}

class ProcessorImpl implements Processor {
  readonly instance: string;
  readonly closed: Promise<void | Error>;
  readonly #nc: NatsConnection;
  readonly #clip: ClipModel;
  readonly #cfg:
    & Required<
      Omit<
        ProcessorConfig,
        | "clip"
        | "modelId"
        | "instance"
        | "workers"
        | "log"
        | "backbone"
        | "sdModel"
        | "sdedit"
        | "decodeTimeoutMs"
        | "telemetry"
      >
    >
    & Pick<ProcessorConfig, "backbone" | "sdModel" | "sdedit" | "telemetry">;
  readonly #log: (line: string) => void;
  readonly #model: ModelRef;
  readonly #stations: StationTable;
  readonly #ring: FrameRing;
  readonly #pool: DecodePool;
  #store!: ProfileStore;
  #profiles!: StationProfiles;
  #enrollment!: EnrollmentManager;
  #publisher!: ResultPublisher;
  #intake!: FrameIntake;
  #batcher!: Batcher;
  /** Scoring first: an enrollment's model runs wait while frames are in the pipeline. */
  readonly #turns = new RunTurns({ busy: () => this.#batcher?.busy ?? false });
  #service: Service | undefined;
  #feedback: FeedbackService | undefined;
  #framesSub: Subscription | undefined;
  #durable: DurableFrames | undefined;
  #framesLoop: Promise<void> | undefined;
  #scoreLoop: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #closeError: Error | undefined;
  #resolveClosed!: (v: void | Error) => void;
  readonly #startedAt = new Date().toISOString();

  constructor(nc: NatsConnection, cfg: ProcessorConfig) {
    this.#nc = nc;
    this.#clip = cfg.clip;
    this.instance = cfg.instance ?? nuid.next();
    this.#log = cfg.log ?? ((line) => console.error(line));
    this.#stations = new StationTable(this.#log, cfg.telemetry);
    const maxBatch = cfg.maxBatch ?? 8;
    this.#cfg = {
      stateDir: cfg.stateDir,
      queueGroup: cfg.queueGroup ?? "adp",
      jetstream: cfg.jetstream ?? false,
      maxBatch,
      maxWaitMs: cfg.maxWaitMs ?? 10,
      maxFrameBytes: cfg.maxFrameBytes ?? 8 * 1024 * 1024,
      maxPixels: cfg.maxPixels ?? DEFAULT_MAX_PIXELS,
      maxDecodeCost: cfg.maxDecodeCost ?? DEFAULT_MAX_DECODE_COST,
      queueDepth: cfg.queueDepth ?? 2 * maxBatch,
      stopGraceMs: cfg.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
      ringSize: cfg.ringSize ?? 16,
      profileHistory: cfg.profileHistory ?? DEFAULT_PROFILE_HISTORY,
      collectTimeoutMs: cfg.collectTimeoutMs ?? 120_000,
      heatmapMaxSide: cfg.heatmapMaxSide ?? 512,
      heatmapRetention: cfg.heatmapRetention ?? {},
      heatmapTtlMs: cfg.heatmapTtlMs ?? 7 * 24 * 3600 * 1000,
      maxStations: cfg.maxStations ?? 4096,
      frameAckWaitMs: cfg.frameAckWaitMs ?? 15_000,
      backbone: cfg.backbone,
      sdModel: cfg.sdModel,
      sdedit: cfg.sdedit,
      telemetry: cfg.telemetry,
    };
    this.#model = { id: cfg.modelId ?? basename(cfg.clip.dir), hash: cfg.clip.hash };
    this.#ring = new FrameRing({ perStation: this.#cfg.ringSize });
    this.#pool = new DecodePool(cfg.workers, { timeoutMs: cfg.decodeTimeoutMs });
    this.closed = new Promise((r) => this.#resolveClosed = r);
  }

  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (error) {
      this.#pool.terminate();
      await this.#enrollment?.stop().catch(() => {});
      await this.#durable?.stop().catch(() => {});
      await this.#service?.stop().catch(() => {});
      if (this.#framesSub && !this.#framesSub.isClosed()) this.#framesSub.unsubscribe();
      throw error;
    }
  }

  async #start(): Promise<void> {
    const { stateDir, queueGroup } = this.#cfg;
    await Deno.mkdir(stateDir, { recursive: true });
    // Opened before any frame is taken: loading it during the first enrollment would stall scoring.
    await this.#clip.prepareEnrollment();
    const shared = this.#cfg.jetstream ? await this.#setupJetStream() : undefined;
    const historyLimit = this.#cfg.profileHistory;
    this.#store = new ProfileStore(stateDir, { bucket: shared?.profileBucket, historyLimit, log: this.#log });
    this.#profiles = new StationProfiles({
      clip: this.#clip,
      stations: this.#stations,
      store: this.#store,
      log: this.#log,
    });
    const { loaded, refused } = await this.#store.loadAll();
    // Past --max-stations the rest wait on disk, as evicted stations do: loaded on their next frame.
    const room = this.#cfg.maxStations;
    for (const [i, stored] of loaded.entries()) {
      if (i < room) this.#profiles.installLoaded(stored);
      else this.#stations.park(stored.station, { meta: stored.profile.meta, error: null });
    }
    for (const [i, { station, error }] of refused.entries()) {
      if (loaded.length + i < room) this.#stations.getOrAdd(station).profileError = error;
      else this.#stations.park(station, { meta: null, error });
      this.#log(`station ${station} refuses to score: ${error}`);
    }
    await this.#startEnrollment(shared?.locks);
    // Feedback: the next profile made from the one in force, alone among the station's changes, installed.
    this.#feedback = new FeedbackService(this.#nc, this.#ring, {
      evolve: (id, next) => this.#profiles.evolve(id, next),
      log: this.#log,
    }, { queueGroup });
    this.#feedback.start();
    await this.#startPipeline(shared);
    this.#service = await startServiceApi(this.#nc, this, {
      queueGroup,
      lifecycle: this.#lifecycle(shared?.profileBucket),
      metadata: {
        instance: this.instance,
        model: this.#model.id,
        model_sha256: this.#model.hash,
        jetstream: String(this.#cfg.jetstream),
      },
    });
    await this.#store.watch((change) => this.#profiles.applyShared(change));
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

  async #startEnrollment(locks: KV | undefined): Promise<void> {
    this.#enrollment = new EnrollmentManager(this.#nc, {
      clip: this.#clip,
      ring: this.#ring,
      currentVersion: (station) => this.#profiles.currentVersion(station),
      nextVersion: (station) => this.#profiles.nextVersion(station),
      install: (station, profile) => this.#profiles.install(station, profile),
      canTrack: (station) =>
        this.#stations.hasRoomFor(
          station,
          this.#cfg.maxStations,
          (s) =>
            this.#enrollment.jobOf(s.id) !== null || this.#enrollment.reserved(s.id) ||
            this.#profiles.changing(s.id),
        ),
      log: this.#log,
      onProgress: this.#cfg.telemetry && ((msg) => this.#cfg.telemetry!.enrollProgress(msg)),
      background: (work) => this.#turns.background(work),
      decode: async (bytes) => (await this.#pool.decode(bytes, this.#cfg.maxPixels)).image,
    }, {
      stateDir: this.#cfg.stateDir,
      queueGroup: this.#cfg.queueGroup,
      instance: this.instance,
      collectTimeoutMs: this.#cfg.collectTimeoutMs,
      locks,
      backbone: this.#cfg.backbone,
      sdModel: this.#cfg.sdModel,
      sdedit: this.#cfg.sdedit,
    });
    await this.#enrollment.recoverInterrupted();
    await this.#enrollment.start();
  }

  /** Publisher, intake and batcher wired together, and the frame subscription (durable with JetStream). */
  async #startPipeline(shared: SharedState | undefined): Promise<void> {
    const cfg = this.#cfg;
    this.#publisher = new ResultPublisher(this.#nc, this.#stations, this.#pool, {
      model: this.#model,
      stateDir: cfg.stateDir,
      heatmapMaxSide: cfg.heatmapMaxSide,
      heatmapRetention: cfg.heatmapRetention,
      js: shared?.js,
      heatmapBucket: shared?.heatmapBucket,
      log: this.#log,
      flagged: (station, frameId) => this.#feedback?.flag(station, frameId),
    });
    this.#intake = new FrameIntake(this.#stations, this.#publisher, this.#ring, {
      queued: () => this.#batcher.pump(),
      enrolling: (station) => this.#enrollment.enrolling(station),
      changing: (station) => this.#profiles.changing(station),
      reload: (station) => this.#profiles.reload(station),
    }, cfg);
    this.#batcher = new Batcher(this.#clip, this.#intake, this.#publisher, this.#pool, {
      maxBatch: cfg.maxBatch,
      maxWaitMs: cfg.maxWaitMs,
      maxPixels: cfg.maxPixels,
      previewSide: cfg.heatmapMaxSide,
      perStationDecodes: Math.max(1, this.#pool.size - 1),
      log: this.#log,
      telemetry: cfg.telemetry,
      settled: () => this.#turns.settle(),
    });
    this.#scoreLoop = this.#batcher.run();
    if (shared) {
      const opts = {
        queueGroup: cfg.queueGroup,
        maxInFlight: 4 * cfg.queueDepth,
        ackWaitMs: cfg.frameAckWaitMs,
        log: this.#log,
      };
      this.#durable = await startDurableFrames(this.#nc, opts, (m, d) => this.#intake.admit(m, d));
      return;
    }
    const sub = this.#framesSub = this.#nc.subscribe(FRAMES_WILDCARD, { queue: cfg.queueGroup });
    this.#framesLoop = (async () => {
      for await (const msg of sub) {
        try {
          this.#intake.admit(msg);
        } catch (error) {
          // A bug on one frame must not end the subscription for every camera.
          this.#log(`error: frame on ${printable(msg.subject)} not handled: ${reason(error)}`);
        }
      }
    })().catch((error) => this.#log(`error: frame subscription ended: ${reason(error)}`));
  }

  async #setupJetStream(): Promise<SharedState> {
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
    const objm = new Objm(this.#nc);
    const profileBucket = await objm.create(JetStreamName.profileBucket, {
      description: "ADP Edge station profiles, shared by the instances of a queue group",
    });
    const heatmapBucket = await objm.create(JetStreamName.heatmapBucket, {
      description: "ADP Edge heat-map overlays of anomalous frames",
      ttl: nanos(this.#cfg.heatmapTtlMs),
    });
    const locks = await new Kvm(this.#nc).create(JetStreamName.enrollLocks, {
      description: "ADP Edge: one key per station while it enrolls",
      ttl: ENROLL_LOCK_TTL_MS,
    });
    return { js: jetstream(this.#nc), profileBucket, heatmapBucket, locks };
  }

  /** History, rollback, export/import and enroll cancel (profile_lifecycle.ts) over this processor. */
  #lifecycle(bucket: ObjectStore | undefined): ProfileLifecycle {
    const profiles = this.#profiles;
    return new ProfileLifecycle({
      store: this.#store,
      stateDir: this.#cfg.stateDir,
      bucket,
      versionInForce: (id) => profiles.currentVersion(id) || undefined,
      nextVersion: (id) => profiles.nextVersion(id),
      swapIn: (id, profile, persist) => profiles.exclusive(id, () => profiles.swapIn(id, profile, persist)),
      cancelEnrollment: (id) => this.#enrollment.cancel(id),
      log: this.#log,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Service endpoints

  status(): StatusReply {
    const jobOf = (id: string) => this.#enrollment.jobOf(id);
    const stations = [
      ...[...this.#stations.values()].map((s) => trackedStatus(s, jobOf(s.id))),
      ...[...this.#stations.parked].map(([id, parked]) => parkedStatus(id, parked, jobOf(id))),
    ];
    stations.sort((a, b) => a.station.localeCompare(b.station));
    return {
      instance: this.instance,
      model: { ...this.#model, provider: this.#clip.provider },
      startedAt: this.#startedAt,
      queueGroup: this.#cfg.queueGroup,
      jetstream: this.#cfg.jetstream,
      workers: this.#pool.size,
      maxBatch: this.#cfg.maxBatch,
      maxWaitMs: this.#cfg.maxWaitMs,
      invalidStationFrames: this.#intake.invalidStationFrames,
      evictedStations: this.#stations.evicted,
      malformedHeaderFrames: this.#intake.malformedHeaderFrames,
      heatmapFailures: this.#publisher.heatmapFailures,
      busFaults: this.#publisher.busFaults,
      enrollQueue: this.#enrollment.queued,
      stations,
    };
  }

  heatmapUsage(): Map<string, HeatmapUsage> {
    return this.#publisher.heatmaps.usage();
  }

  listProfiles(): ProfileListReply {
    return this.#stations.profileList();
  }

  getProfile(id: string): { station: string; meta: StationProfile["meta"] } {
    const parked = this.#stations.parked.get(id)?.meta;
    return { station: id, meta: parked ?? this.#profiles.requireScorer(id).profile.meta };
  }

  deleteProfile(id: string): Promise<{ station: string; deleted: true; version: number | null }> {
    return this.#profiles.delete(id);
  }

  setThreshold(req: ThresholdSetRequest): Promise<ThresholdSetReply> {
    return this.#profiles.setThreshold(req);
  }

  setRoi(req: RoiSetRequest): Promise<RoiSetReply> {
    return this.#profiles.setRoi(req);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const connected = !this.#nc.isClosed();
    // The bound on stopping (systemd kills at TimeoutStopSec): past the grace, frames still waiting
    // are let go; those in the workers end within their decode budget and are scored.
    let late = false;
    const grace = setTimeout(() => {
      late = true;
      this.#abandonWaiting();
    }, this.#cfg.stopGraceMs);
    await this.#enrollment.stop();
    await this.#feedback?.stop();
    await this.#durable?.stop();
    if (connected && this.#framesSub && !this.#framesSub.isClosed()) {
      await this.#framesSub.drain().catch((error) => this.#log(`warning: drain failed: ${reason(error)}`));
    } else {
      this.#framesSub?.unsubscribe();
    }
    await this.#framesLoop;
    // Frames admitted while the subscription drained, after the grace ran out.
    if (late) this.#abandonWaiting();
    this.#batcher.finish();
    await this.#scoreLoop;
    clearTimeout(grace);
    await this.#publisher.settled();
    await this.#service?.stop().catch(() => {});
    await this.#store.close();
    if (!this.#nc.isClosed()) await this.#nc.flush().catch(() => {});
    this.#pool.terminate();
    for (const s of this.#stations.values()) s.slot.swap(undefined);
    this.#log(`adp serve ${this.instance} stopped`);
    this.#resolveClosed(this.#closeError);
  }

  #abandonWaiting(): void {
    const { answered, handedBack } = this.#intake.abandonWaiting();
    if (answered + handedBack === 0) return;
    this.#log(
      `stopping: ${this.#cfg.stopGraceMs} ms passed (--stop-grace-ms); ${answered} waiting frame(s) answered ` +
        `stopping, ${handedBack} handed back to the stream (delivered again)`,
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
