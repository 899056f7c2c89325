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
import { join } from "node:path";
import { type Msg, type NatsConnection, nuid, type Subscription } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { enroll, type EnrollProgress, type StationProfile } from "../adp/mod.ts";
import { SynthesisWorker } from "../adp/synth/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import { MessageError } from "./errors.ts";
import { readImageHeader } from "../image/mod.ts";
import { readFrameHeaders } from "./frame_headers.ts";
import type { FrameRing } from "./frame_ring.ts";
import {
  decodeEnrollRequest,
  encodeMessage,
  type EnrollProgressMessage,
  EnrollRefusal,
  type EnrollReply,
  type EnrollRequest,
  JobStage,
  parseFrameId,
} from "./messages.ts";
import { reason } from "./profile_store.ts";
import {
  ENROLL_WILDCARD,
  enrollProgressSubject,
  framesSubject,
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
  /** Whether the station can be tracked (the station table has room, or it is tracked already). */
  canTrack(station: string): boolean;
  /** Checks, persists and swaps in a new profile; returns its version. */
  install(station: string, profile: StationProfile): Promise<number>;
  /** Where job log lines go. */
  log(line: string): void;
  /** Sees every progress message published (metrics). */
  onProgress?: (msg: EnrollProgressMessage) => void;
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
}

interface Job {
  id: string;
  station: string;
  request: EnrollRequest;
  frames?: Uint8Array[];
  /** The next frames being collected, when the request named none (subscribed before the reply). */
  collected?: Promise<Uint8Array[]>;
  controller: AbortController;
  collector?: { frames: Uint8Array[]; ids: Set<string>; resolve(): void };
  lockRevision?: number;
  done: Promise<void>;
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

interface JobRecord {
  jobId: string;
  station: string;
  instance: string;
  startedAt: string;
  lockRevision?: number;
}

/** Enrollment requests, jobs and their progress. */
export class EnrollmentManager {
  readonly #nc: NatsConnection;
  readonly #host: EnrollmentHost;
  readonly #opts:
    & Required<Omit<EnrollmentOptions, "locks" | "backbone">>
    & Pick<EnrollmentOptions, "locks" | "backbone">;
  /** Stations with a job, including those whose request is still being checked. */
  readonly #stations = new Map<string, Job | "reserved">();
  #device: Promise<void> = Promise.resolve();
  #waiting = 0;
  #sub: Subscription | undefined;
  #loop: Promise<void> | undefined;
  /** Pseudo-anomalies are made here, off the main thread scoring runs on. */
  #synthesis: SynthesisWorker | undefined;
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
  }

  /** Starts the synthesis worker and subscribes to enrollment requests (in the queue group). */
  start(): void {
    this.#synthesis = new SynthesisWorker();
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

  /** Whether a request of the station is being checked (its job not yet accepted). */
  reserved(station: string): boolean {
    return this.#stations.get(station) === "reserved";
  }

  /** Jobs running or waiting for the model. */
  get queued(): number {
    return this.#waiting;
  }

  /** A frame of the job's station, seen by its collection's own subscription. */
  #take(job: Job, msg: Msg): void {
    const c = job.collector;
    if (!c) return;
    // What intake would refuse before a decode is not a shot either (empty, no image header).
    if (!msg.data.length || !hasImageHeader(msg.data)) return;
    const frameId = parseFrameId(readFrameHeaders(msg).frameId) ?? nuid.next();
    if (c.ids.has(frameId)) return;
    c.ids.add(frameId);
    c.frames.push(msg.data.slice());
    this.#progress(job, {
      stage: JobStage.collecting,
      percent: 0,
      etaSeconds: null,
      message: `collected ${c.frames.length} of ${job.request.shots} frames`,
    });
    if (c.frames.length >= job.request.shots) c.resolve();
  }

  /** Reports jobs that a previous run of the service did not finish, and frees their locks. */
  async recoverInterrupted(): Promise<void> {
    const dir = join(this.#opts.stateDir, "jobs");
    await Deno.mkdir(dir, { recursive: true });
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      const path = join(dir, entry.name);
      try {
        const record = JSON.parse(await Deno.readTextFile(path)) as JobRecord;
        if (!isStationId(record.station) || typeof record.jobId !== "string") continue;
        this.#publish({
          jobId: record.jobId,
          station: record.station,
          stage: JobStage.failed,
          percent: 0,
          etaSeconds: null,
          message: "interrupted",
          at: new Date().toISOString(),
          done: true,
          error:
            `Enrollment job ${record.jobId} (started ${record.startedAt}) was interrupted by a stop of ` +
            `the service: the previous profile stays in force`,
        });
        if (record.lockRevision !== undefined && this.#opts.locks) {
          await this.#opts.locks.delete(record.station, { previousSeq: record.lockRevision }).catch(() => {});
        }
        this.#host.log(
          `enrollment job ${record.jobId} of ${record.station} was interrupted: reported as failed`,
        );
      } catch (error) {
        this.#host.log(`warning: unreadable job record ${path}: ${reason(error)}`);
      }
      await Deno.remove(path).catch(() => {});
    }
  }

  /** Stops taking requests, cancels every job (each reports its failure) and waits for them. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#sub && !this.#sub.isClosed()) await this.#sub.drain().catch(() => {});
    await this.#loop;
    const jobs = [...this.#stations.values()].filter((j): j is Job => j !== "reserved");
    for (const job of jobs) job.controller.abort("the service is stopping");
    await Promise.all(jobs.map((j) => j.done));
    this.#synthesis?.terminate();
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
    await this.#writeRecord({
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
    const { station, request } = job;
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
        const version = this.#host.currentVersion(station) + 1;
        const profile = await enroll(this.#host.clip, frames, {
          seed: request.seed,
          label: request.label,
          steps: request.steps,
          backbone: this.#opts.backbone,
          station,
          version,
          signal,
          synthesis: this.#synthesis,
          onProgress: (p: EnrollProgress) => this.#progress(job, p),
        });
        signal.throwIfAborted();
        this.#progress(job, {
          stage: JobStage.saving,
          percent: 100,
          etaSeconds: 0,
          message: `saving and swapping in profile v${version}`,
        });
        const installed = await this.#host.install(station, profile);
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
      const why = signal.aborted ? `Enrollment was cancelled: ${signal.reason}` : reason(error);
      const previous = this.#host.currentVersion(station);
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
      this.#stations.delete(station);
      await Deno.remove(this.#recordPath(station)).catch(() => {});
      if (job.lockRevision !== undefined && this.#opts.locks) {
        await this.#opts.locks.delete(station, { previousSeq: job.lockRevision }).catch((error) =>
          this.#host.log(`warning: enrollment lock of ${station} not released: ${reason(error)}`)
        );
      }
    }
  }

  #collect(job: Job): Promise<Uint8Array[]> {
    const { shots } = job.request;
    const timeoutMs = this.#opts.collectTimeoutMs;
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const frames: Uint8Array[] = [];
      // Every frame of the station, outside the queue group: the instances of a group split the
      // station's frames between them, and this one must see all of them while it collects.
      const tap = this.#nc.subscribe(framesSubject(job.station), { callback: (_e, m) => this.#take(job, m) });
      const finish = (error?: Error) => {
        clearTimeout(timer);
        tap.unsubscribe();
        job.controller.signal.removeEventListener("abort", onAbort);
        job.collector = undefined;
        if (error) reject(error);
        else resolve(frames.slice(0, shots));
      };
      const onAbort = () => finish(new Error(String(job.controller.signal.reason)));
      const timer = setTimeout(() =>
        finish(
          new Error(
            `Collected ${frames.length} of ${shots} frames of ${job.station} in ${
              Math.round(timeoutMs / 1000)
            } s: is its camera publishing?`,
          ),
        ), timeoutMs);
      job.controller.signal.addEventListener("abort", onAbort, { once: true });
      job.collector = { frames, ids: new Set(), resolve: () => finish() };
      this.#progress(job, {
        stage: JobStage.collecting,
        percent: 0,
        etaSeconds: null,
        message: `waiting for the next ${shots} frames of ${job.station}`,
      });
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

  #recordPath(station: string): string {
    return join(this.#opts.stateDir, "jobs", `${station}.json`);
  }

  async #writeRecord(record: JobRecord): Promise<void> {
    await Deno.mkdir(join(this.#opts.stateDir, "jobs"), { recursive: true });
    await Deno.writeTextFile(this.#recordPath(record.station), JSON.stringify(record));
  }
}

function hasImageHeader(bytes: Uint8Array): boolean {
  try {
    readImageHeader(bytes);
    return true;
  } catch {
    return false;
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
