/**
 * Enrollment jobs: requests on `adp.enroll.<station>` are validated and acknowledged (or refused
 * with a reason), frames are collected from the station's stream through a subscription of their
 * own, outside the queue group (or taken from its ring buffer by id), and jobs run one at a time on the model in arrival order. Progress and the outcome go to
 * `adp.enroll.<station>.progress`. A job that fails, is cancelled or is interrupted by a restart
 * leaves the station's previous profile in force and says why.
 *
 * Only one job per station at a time: in this instance by a reservation taken before any await,
 * and across a queue group (with JetStream) by a key in a key-value bucket. A small job record in
 * `<state-dir>/jobs/` lets the next start report a job the process did not live to finish.
 *
 * @module
 */
import { printable } from "../guard.ts";
import { type Msg, type NatsConnection, nuid, type Subscription } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { enroll, type EnrollProgress, type StationProfile } from "../adp/mod.ts";
import { openStableDiffusionOrFallBack, SynthesisWorker } from "../adp/synth/mod.ts";
import type { SdeditOptions, StableDiffusion } from "../diffusion/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import type { Rgb8Image } from "../image/mod.ts";
import { MessageError, RequestRefusedError, ServiceErrorCode } from "./errors.ts";
import type { FrameRing } from "./frame_ring.ts";
import { collectNextFrames } from "./enroll_collector.ts";
import { EnrollLockView } from "./enroll_lock_view.ts";
import { JobRecords } from "./enroll_job_records.ts";
import {
  decodeEnrollRequest,
  encodeMessage,
  type EnrollProgressMessage,
  EnrollRefusal,
  type EnrollReply,
  type EnrollRequest,
  JobStage,
} from "./messages.ts";
import { reason } from "./profile_store.ts";
import {
  ENROLL_WILDCARD,
  enrollProgressSubject,
  isStationId,
  SubjectPrefix,
  subjectRest,
} from "./subjects.ts";

/** What the enrollment manager needs from the service. */
export interface EnrollmentHost {
  /** The model every enrollment runs on. */
  readonly clip: ClipModel;
  /** Recent frames of each station, for requests naming frame ids. */
  readonly ring: FrameRing;
  /** The version of the station's profile in force; 0 when it has none. */
  currentVersion(station: string): number;
  /** The version a new profile of the station gets (never one its history holds). */
  nextVersion(station: string): number;
  /** Whether the station can be tracked (the station table has room, or it is tracked already). */
  canTrack(station: string): boolean;
  /** Checks, persists and swaps in a new profile; returns its version. */
  install(station: string, profile: StationProfile): Promise<number>;
  /** Where job log lines go. */
  log(line: string): void;
  /** Sees every progress message published (metrics). */
  onProgress?: (msg: EnrollProgressMessage) => void;
  /**
   * Runs an enrollment's model work behind live scoring (the processor's `RunTurns.background`): each
   * of its model runs waits while frames are in the pipeline. @default at once
   */
  background?: <T>(work: () => Promise<T>) => Promise<T>;
  /** Decodes a shot off the main thread (the decode workers), one at a time. @default on this thread */
  decode?: (bytes: Uint8Array) => Promise<Rgb8Image>;
}

/** Options of {@linkcode EnrollmentManager}. */
export interface EnrollmentOptions {
  /** The service's state dir: job records go to its `jobs/` folder. */
  stateDir: string;
  /** Queue group of the request subscription. */
  queueGroup: string;
  /** This instance's id, in job records and locks. */
  instance: string;
  /** How long to wait for a station's next frames. @default 120000 */
  collectTimeoutMs?: number;
  /** The group-wide lock bucket (JetStream). */
  locks?: KV;
  /** A backbone JSON for the patch branch of every enrollment (default: CLIP's own tokens). */
  backbone?: string;
  /**
   * A Stable Diffusion folder for `synth: sd|mix` requests, opened at start (a missing or broken
   * one: one log line, and those requests run procedural).
   */
  sdModel?: string;
  /** SDEdit's settings for those requests. @default {SD_DEFAULTS} */
  sdedit?: Partial<SdeditOptions>;
}

interface Job {
  id: string;
  station: string;
  request: EnrollRequest;
  frames?: Uint8Array[];
  /** The next frames being collected, when the request named none (subscribed before the reply). */
  collected?: Promise<Uint8Array[]>;
  controller: AbortController;
  lockRevision?: number;
  done: Promise<void>;
  /** Set once the job saves its profile: too late to cancel. */
  saving?: boolean;
  /** Set by a cancel, which has answered the requester and freed the station already. */
  cancelled?: boolean;
  /** Set once the station, its lock and its job record are freed. */
  released?: boolean;
}

/** Why a request is refused, as its reply says it. */
interface Refusal {
  code: EnrollRefusal;
  error: string;
}

/** What a job starts with once its request is accepted. */
interface PreparedJob {
  jobId: string;
  /** The frames named by id; undefined when the job collects the next frames. */
  frames?: Uint8Array[];
  lockRevision?: number;
}

/** Enrollment requests, jobs and their progress. */
export class EnrollmentManager {
  readonly #nc: NatsConnection;
  readonly #host: EnrollmentHost;
  readonly #opts:
    & Required<Omit<EnrollmentOptions, "locks" | "backbone" | "sdModel" | "sdedit">>
    & Pick<EnrollmentOptions, "locks" | "backbone" | "sdModel" | "sdedit">;
  /** Stations with a job, including those whose request is still being checked. */
  readonly #stations = new Map<string, Job | "reserved">();
  readonly #records: JobRecords;
  /** Stations enrolling on any instance of the group (JetStream). */
  readonly #lockView: EnrollLockView | undefined;
  /** Cancelled jobs still winding down on the model: `stop()` waits for them too. */
  readonly #cancelled = new Set<Job>();
  #device: Promise<void> = Promise.resolve();
  #waiting = 0;
  #sub: Subscription | undefined;
  #loop: Promise<void> | undefined;
  /** Pseudo-anomalies are made here, off the main thread scoring runs on. */
  #synthesis: SynthesisWorker | undefined;
  /** Stable Diffusion for `sd` and `mix` requests: its runs are onnxruntime's, off this thread. */
  #diffusion: StableDiffusion | undefined;
  #stopping = false;

  /**
   * Takes requests once {@linkcode start} is called.
   *
   * @param nc the connection requests come in and progress goes out on
   * @param host the model, the ring and profile installation
   * @param opts state dir, queue group, timeouts, locks
   */
  constructor(nc: NatsConnection, host: EnrollmentHost, opts: EnrollmentOptions) {
    this.#nc = nc;
    this.#host = host;
    this.#opts = { collectTimeoutMs: 120_000, ...opts };
    this.#lockView = opts.locks && new EnrollLockView();
    this.#records = new JobRecords(opts.stateDir);
  }

  /**
   * Starts the synthesis worker and subscribes to enrollment requests (in the queue group), once the
   * group's locks are known.
   */
  async start(): Promise<void> {
    this.#synthesis = new SynthesisWorker();
    if (this.#opts.sdModel !== undefined) {
      this.#diffusion = await openStableDiffusionOrFallBack(this.#opts.sdModel, { log: this.#host.log });
      if (this.#diffusion) this.#host.log(`sd pseudo-anomalies: Stable Diffusion from ${this.#opts.sdModel}`);
    }
    await this.#lockView?.follow(this.#opts.locks!, this.#host.log);
    this.#sub = this.#nc.subscribe(ENROLL_WILDCARD, { queue: this.#opts.queueGroup });
    this.#loop = (async () => {
      for await (const msg of this.#sub!) {
        this.#handle(msg).catch((error) =>
          this.#host.log(`error: enrollment request failed: ${reason(error)}`)
        );
      }
    })();
  }

  /** The id of the station's job, if it has one. */
  jobOf(station: string): string | null {
    const job = this.#stations.get(station);
    return job && job !== "reserved" ? job.id : null;
  }

  /** Whether the station enrolls here (its request checked or its job running) or on another instance. */
  enrolling(station: string): boolean {
    return this.#stations.has(station) || this.#lockView?.has(station) === true;
  }

  /** Whether a request of the station is being checked (its job not yet accepted). */
  reserved(station: string): boolean {
    return this.#stations.get(station) === "reserved";
  }

  /** Jobs running or waiting for the model. */
  get queued(): number {
    return this.#waiting;
  }

  /** Reports jobs that a previous run of the service did not finish, and frees their locks. */
  async recoverInterrupted(): Promise<void> {
    for (const record of await this.#records.takeLeftovers(this.#host.log)) {
      this.#publish({
        jobId: record.jobId,
        station: record.station,
        stage: JobStage.failed,
        percent: 0,
        etaSeconds: null,
        message: "interrupted",
        at: new Date().toISOString(),
        done: true,
        error: `Enrollment job ${record.jobId} (started ${record.startedAt}) was interrupted by a stop of ` +
          `the service: the previous profile stays in force`,
      });
      if (record.lockRevision !== undefined && this.#opts.locks) {
        await this.#opts.locks.delete(record.station, { previousSeq: record.lockRevision }).catch(() => {});
      }
      this.#host.log(
        `enrollment job ${record.jobId} of ${record.station} was interrupted: reported as failed`,
      );
    }
  }

  /** Stops taking requests, cancels every job (each reports its failure) and waits for them. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#lockView?.stop();
    if (this.#sub && !this.#sub.isClosed()) await this.#sub.drain().catch(() => {});
    await this.#loop;
    const jobs = [...this.#stations.values()].filter((j): j is Job => j !== "reserved");
    for (const job of jobs) job.controller.abort("the service is stopping");
    await Promise.all([...jobs, ...this.#cancelled].map((j) => j.done));
    this.#synthesis?.terminate();
    await this.#diffusion?.release();
  }

  /**
   * Cancels the station's job at once: the requester gets a `cancelled` outcome, the station, its
   * lock and job record are freed before this returns (a request right after the reply finds the
   * station free on every instance); the job's model work stops at its next check, never saving.
   * @returns the job's id; null when the station has no job here
   * @throws {RequestRefusedError} 409 when the job is already saving its profile
   */
  async cancel(station: string): Promise<string | null> {
    const job = this.#stations.get(station);
    if (!job || job === "reserved") return null;
    if (job.saving) {
      throw new RequestRefusedError(
        ServiceErrorCode.CONFLICT,
        `Enrollment job ${job.id} of ${station} is saving its profile: too late to cancel`,
      );
    }
    job.cancelled = true;
    job.controller.abort("cancelled on request");
    this.#cancelled.add(job);
    job.done.then(() => this.#cancelled.delete(job));
    const previous = this.#host.currentVersion(station);
    this.#progress(job, {
      stage: JobStage.cancelled,
      percent: 0,
      etaSeconds: null,
      message: "cancelled",
      done: true,
      error: `Enrollment was cancelled on request${
        previous ? `: profile v${previous} stays in force` : ": the station has no profile"
      }`,
    });
    this.#host.log(`enrollment job ${job.id} of ${station} cancelled on request`);
    await this.#release(job);
    return job.id;
  }

  async #handle(msg: Msg): Promise<void> {
    const token = subjectRest(msg.subject, SubjectPrefix.enroll) ?? "";
    const checked = this.#check(token, msg.data);
    if ("refused" in checked) return this.#refuse(msg, token, checked.refused);
    const { station, request } = checked;
    // Taken before any await: a second request for the station is refused, not raced.
    this.#stations.set(station, "reserved");
    let prepared: PreparedJob | { refused: Refusal };
    try {
      prepared = await this.#prepare(station, request);
    } catch (error) {
      this.#stations.delete(station);
      throw error;
    }
    if ("refused" in prepared) {
      this.#stations.delete(station);
      return this.#refuse(msg, token, prepared.refused);
    }
    this.#accept(msg, station, request, prepared);
  }

  /** The station and the decoded request, or why the request is refused before anything is reserved. */
  #check(
    token: string,
    data: Uint8Array,
  ): { station: string; request: EnrollRequest } | { refused: Refusal } {
    if (!isStationId(token)) {
      return refusal(
        EnrollRefusal.invalidStation,
        `Station id ${
          JSON.stringify(printable(token))
        } is invalid: use 1–64 characters of A–Z, a–z, 0–9, _ and -`,
      );
    }
    if (this.#stopping) {
      return refusal(EnrollRefusal.stopping, "The service is stopping: send the request again");
    }
    let request: EnrollRequest;
    try {
      request = decodeEnrollRequest(data);
    } catch (error) {
      if (!(error instanceof MessageError)) throw error;
      return refusal(EnrollRefusal.badRequest, error.message);
    }
    if (!this.#host.canTrack(token)) {
      return refusal(
        EnrollRefusal.tooManyStations,
        `Station ${token} cannot be tracked: this service holds its limit of stations, each with a profile ` +
          `or work in progress (--max-stations); delete a profile or raise the limit`,
      );
    }
    const existing = this.#stations.get(token);
    if (existing) {
      const id = existing === "reserved" ? "being set up" : existing.id;
      return refusal(
        EnrollRefusal.alreadyEnrolling,
        `Station ${token} is already enrolling (job ${id}): wait for its outcome on ${
          enrollProgressSubject(token)
        }`,
      );
    }
    return { station: token, request };
  }

  /** The named frames, the group-wide lock and the job record; or why the job cannot start. */
  async #prepare(station: string, request: EnrollRequest): Promise<PreparedJob | { refused: Refusal }> {
    const jobId = nuid.next();
    let frames: Uint8Array[] | undefined;
    if (request.frameIds) {
      const found = this.#host.ring.find(station, request.frameIds);
      if (found.missing.length) {
        return refusal(
          EnrollRefusal.framesNotFound,
          `Frames ${found.missing.map((id) => JSON.stringify(printable(id))).join(", ")} of ${station} are ` +
            `not held by this instance (it keeps the last frames of each station): send shots without frameIds ` +
            `to collect the next frames`,
        );
      }
      frames = found.frames;
    }
    const lock = await this.#lock(station, jobId);
    if (typeof lock === "object") return lock;
    // A state dir that takes no writes (full, read-only) must not leave the request unanswered: the
    // job runs and fails at saving, saying why, on the progress subject.
    await this.#records.write({
      jobId,
      station,
      instance: this.#opts.instance,
      startedAt: new Date().toISOString(),
      lockRevision: lock,
    }).catch((error) =>
      this.#host.log(
        `warning: job record of ${station} not written, a stop during job ${jobId} will not be reported: ${
          reason(error)
        }`,
      )
    );
    return { jobId, frames, lockRevision: lock };
  }

  /** The station's key in the group-wide lock bucket (its revision), none without JetStream, or a refusal. */
  async #lock(station: string, jobId: string): Promise<number | undefined | { refused: Refusal }> {
    const locks = this.#opts.locks;
    if (!locks) return undefined;
    try {
      return await locks.create(
        station,
        JSON.stringify({ jobId, instance: this.#opts.instance, at: new Date().toISOString() }),
      );
    } catch (error) {
      const holder = await locks.get(station).then((e) => e?.string()).catch(() => undefined);
      return refusal(
        EnrollRefusal.alreadyEnrolling,
        `Station ${station} is already enrolling on another instance${holder ? ` (${holder})` : ""}: ${
          reason(error)
        }`,
      );
    }
  }

  /** Acknowledges the request and starts the job. */
  #accept(msg: Msg, station: string, request: EnrollRequest, prepared: PreparedJob): void {
    const { jobId, frames, lockRevision } = prepared;
    let resolveDone!: () => void;
    const job: Job = {
      id: jobId,
      station,
      request,
      frames,
      controller: new AbortController(),
      lockRevision,
      done: new Promise((r) => resolveDone = r),
    };
    this.#stations.set(station, job);
    if (!frames) job.collected = this.#collect(job);
    const reply: EnrollReply = {
      ok: true,
      jobId,
      station,
      shots: request.shots,
      source: frames ? "frame-ids" : "next-frames",
      jobsAhead: this.#waiting,
    };
    if (msg.reply) msg.respond(encodeMessage(reply));
    this.#host.log(
      `enrollment job ${jobId} of ${station} accepted (${request.shots} shots, ${reply.source})`,
    );
    this.#run(job).finally(resolveDone);
  }

  #refuse(msg: Msg, token: string, { code, error }: Refusal): void {
    const reply: EnrollReply = { ok: false, station: printable(token), code, error };
    if (msg.reply) msg.respond(encodeMessage(reply));
    this.#host.log(`enrollment of ${printable(token)} refused: ${error}`);
  }

  async #run(job: Job): Promise<void> {
    const { station } = job;
    const signal = job.controller.signal;
    try {
      const frames = job.frames ?? await job.collected!;
      this.#waiting++;
      let release!: () => void;
      const previous = this.#device;
      this.#device = new Promise((r) => release = r);
      try {
        if (this.#waiting > 1) {
          this.#progress(job, {
            stage: JobStage.queued,
            percent: 0,
            etaSeconds: null,
            message: `waiting for ${this.#waiting - 1} other enrollment job(s) to finish`,
          });
        }
        await Promise.race([previous, aborted(signal)]);
        signal.throwIfAborted();
        const background = this.#host.background ?? (<T>(work: () => Promise<T>) => work());
        const profile = await background(() => this.#enroll(job, frames));
        signal.throwIfAborted();
        job.saving = true;
        profile.meta.revision = { kind: "enrollment", at: new Date().toISOString() };
        this.#progress(job, {
          stage: JobStage.saving,
          percent: 100,
          etaSeconds: 0,
          message: "saving and swapping in the new profile", // its number is fixed at install
        });
        // Its check (the new scorer scores a frame) also waits for live scoring.
        const installed = await background(() => this.#host.install(station, profile));
        // Freed before the outcome is told, so that a request right after it is not refused.
        await this.#release(job);
        this.#progress(job, {
          stage: JobStage.done,
          percent: 100,
          etaSeconds: 0,
          message: `profile v${installed} in force`,
          done: true,
          profileVersion: installed,
        });
        this.#host.log(`enrollment job ${job.id} of ${station}: profile v${installed} in force`);
      } finally {
        this.#waiting--;
        // A job cancelled while waiting must not let the next one start before the running one ends.
        previous.then(release);
      }
    } catch (error) {
      if (job.cancelled) return; // answered and freed by cancel()
      const why = signal.aborted ? `Enrollment was cancelled: ${signal.reason}` : reason(error);
      const previous = this.#host.currentVersion(station);
      await this.#release(job);
      this.#progress(job, {
        stage: JobStage.failed,
        percent: 0,
        etaSeconds: null,
        message: "failed",
        done: true,
        error: `${why}${previous ? `: profile v${previous} stays in force` : ": the station has no profile"}`,
      });
      this.#host.log(`enrollment job ${job.id} of ${station} failed: ${why}`);
    } finally {
      await this.#release(job);
    }
  }

  /** The enrollment itself: the job's request, the manager's models and settings. */
  #enroll(job: Job, frames: Uint8Array[]): Promise<StationProfile> {
    const { station, request } = job;
    return enroll(this.#host.clip, frames, {
      seed: request.seed,
      label: request.label,
      steps: request.steps,
      backbone: this.#opts.backbone,
      station,
      version: this.#host.nextVersion(station),
      signal: job.controller.signal,
      synthesis: this.#synthesis,
      synth: request.synth,
      diffusion: this.#diffusion,
      sdedit: this.#opts.sdedit,
      log: this.#host.log,
      ...(this.#host.decode ? { decode: this.#host.decode } : {}),
      onProgress: (p: EnrollProgress) => this.#progress(job, p),
    });
  }

  /** Frees the job's station, job record and group-wide lock (once); failures are logged. */
  async #release(job: Job): Promise<void> {
    if (job.released) return;
    job.released = true;
    const { station } = job;
    if (this.#stations.get(station) === job) this.#stations.delete(station);
    await this.#records.remove(station).catch((error) =>
      this.#host.log(`warning: job record of ${station} not removed: ${reason(error)}`)
    );
    if (job.lockRevision !== undefined && this.#opts.locks) {
      await this.#opts.locks.delete(station, { previousSeq: job.lockRevision }).catch((error) =>
        this.#host.log(`warning: enrollment lock of ${station} not released: ${reason(error)}`)
      );
    }
  }

  #collect(job: Job): Promise<Uint8Array[]> {
    const { shots } = job.request;
    this.#progress(job, {
      stage: JobStage.collecting,
      percent: 0,
      etaSeconds: null,
      message: `waiting for the next ${shots} frames of ${job.station}`,
    });
    return collectNextFrames(this.#nc, job.station, {
      shots,
      timeoutMs: this.#opts.collectTimeoutMs,
      signal: job.controller.signal,
      onFrame: (count) =>
        this.#progress(job, {
          stage: JobStage.collecting,
          percent: 0,
          etaSeconds: null,
          message: `collected ${count} of ${shots} frames`,
        }),
    });
  }

  #progress(
    job: Job,
    p: Omit<EnrollProgressMessage, "jobId" | "station" | "at" | "stage"> & { stage: string },
  ): void {
    const msg: EnrollProgressMessage = {
      jobId: job.id,
      station: job.station,
      stage: p.stage,
      percent: Math.round(p.percent * 10) / 10,
      etaSeconds: p.etaSeconds === null ? null : Math.round(p.etaSeconds * 10) / 10,
      message: p.message,
      at: new Date().toISOString(),
    };
    for (const key of ["done", "profileVersion", "error", "step", "steps", "loss"] as const) {
      if (p[key] !== undefined) (msg as unknown as Record<string, unknown>)[key] = p[key];
    }
    this.#publish(msg);
  }

  #publish(msg: EnrollProgressMessage): void {
    this.#host.onProgress?.(msg);
    if (this.#nc.isClosed()) return;
    this.#nc.publish(enrollProgressSubject(msg.station), encodeMessage(msg));
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

function refusal(code: EnrollRefusal, error: string): { refused: Refusal } {
  return { refused: { code, error } };
}
