/**
 * A pool of Deno workers that decode frames, prepare them for the model (resize and normalise:
 * `prepareFrame`) and encode heat-map PNGs, so the main thread only batches, runs the model and
 * publishes. Each worker runs one request at a time; the others wait in the pool's queue, in order.
 * Decoded pixels come back as transferred buffers (no copy).
 *
 * Every request runs under a time budget: a worker that overruns it (a decoder stuck on hostile
 * input) is terminated and replaced, and only that request fails ({@linkcode DecodeBudgetError}).
 * A worker that decoded a large frame is replaced too, so the WebAssembly memory it grew (which
 * never shrinks) is given back. A worker that dies fails only its own request.
 *
 * @module
 */
import type { Rgb8Image } from "../image/mod.ts";
import type { FramePreparation, PreparedFrame } from "../adp/mod.ts";
import { DecodeBudgetError, DecoderCrashError } from "./errors.ts";
import { rebuildError, type WorkerFailure } from "./_worker_failure.ts";

/** A request to a decode worker. @internal */
export type WorkerRequest =
  | {
    id: number;
    kind: "decode";
    bytes: Uint8Array;
    maxPixels: number;
    prepare: FramePreparation | null;
    /** Send the decoded frame back (false: only what scoring and the heat map need). */
    keepImage: boolean;
    /** Longest side of the heat-map preview to make; 0: none. */
    previewSide: number;
  }
  | {
    id: number;
    kind: "overlay";
    frame: Rgb8Image;
    map: Float32Array;
    mapWidth: number;
    mapHeight: number;
    maxSide: number;
  };

/** A decode worker's reply. @internal */
export type WorkerReply =
  | {
    id: number;
    ok: true;
    width: number;
    height: number;
    data: Uint8Array;
    prepared?: PreparedFrame;
    preview?: Rgb8Image;
  }
  | { id: number; ok: false; failure: WorkerFailure };

/** Limits of one request. */
export interface RequestBudget {
  /** The worker is terminated and replaced when the request takes longer. @default the pool's */
  timeoutMs?: number;
  /** Bytes the request may grow the worker by (from the header); above the pool's recycle level the worker is replaced afterwards. */
  memoryBytes?: number;
}

/** Options of {@linkcode DecodePool}. */
export interface DecodePoolOptions {
  /** Time budget of a request. @default 5000 */
  timeoutMs?: number;
  /** A worker that handled a request announcing more bytes than this is replaced afterwards. @default 64 MiB */
  recycleBytes?: number;
}

/** A frame decoded for scoring: its size, the model's inputs and the heat map's preview, never the full frame. */
export interface ScoringDecode {
  /** The frame's width. */
  width: number;
  /** The frame's height. */
  height: number;
  /** The model's inputs. */
  prepared: PreparedFrame;
  /** The frame reduced to the heat map's size (nearest sample, as the overlay reads it). */
  preview: Rgb8Image;
}

interface Job {
  req: WorkerRequest;
  transfer: Transferable[];
  budget: RequestBudget;
  resolve(reply: WorkerReply & { ok: true }): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  /** The worker has loaded its module: budgets count from here, not from its start-up. */
  ready: boolean;
  job: Job | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Decoding and PNG encoding off the main thread. */
export class DecodePool {
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  readonly #timeoutMs: number;
  readonly #recycleBytes: number;
  #nextId = 1;
  #closed = false;
  #replaced = 0;

  /**
   * Starts the workers.
   *
   * @param size number of workers; @default cores − 1, 2 to 4 (two, so that one slow frame leaves a worker to the others)
   * @param opts time budget and recycling
   */
  constructor(size?: number, opts: DecodePoolOptions = {}) {
    const n = size ?? Math.max(2, Math.min(4, (navigator.hardwareConcurrency ?? 2) - 1));
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#recycleBytes = opts.recycleBytes ?? 64 * 1024 * 1024;
    for (let i = 0; i < n; i++) this.#slots.push(this.#spawn());
  }

  /** Number of workers. */
  get size(): number {
    return this.#slots.length;
  }

  /** Workers replaced so far (crashed, over their time budget, or recycled after a large frame). */
  get replaced(): number {
    return this.#replaced;
  }

  /** The time budget of a request, in ms. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /**
   * Decodes a PNG or JPEG in a worker and, given a preparation, prepares it for scoring there too.
   *
   * @param bytes the encoded frame (copied to the worker; the caller keeps it)
   * @param maxPixels pixel limit
   * @param prepare what scoring needs made of the frame; null: decode only
   * @param budget time and memory of this request
   * @throws {ImageError} when the frame cannot be decoded ({@linkcode DecoderCrashError} when its
   *   worker died, {@linkcode DecodeBudgetError} when it ran out of time)
   */
  async decode(
    bytes: Uint8Array,
    maxPixels: number,
    prepare: FramePreparation | null = null,
    budget: RequestBudget = {},
  ): Promise<{ image: Rgb8Image; prepared: PreparedFrame | undefined }> {
    const reply = await this.#send(
      { id: 0, kind: "decode", bytes, maxPixels, prepare, keepImage: true, previewSide: 0 },
      [],
      budget,
    );
    return {
      image: { width: reply.width, height: reply.height, data: reply.data },
      prepared: reply.prepared,
    };
  }

  /**
   * Decodes and prepares a frame for scoring, keeping in this thread only the model's inputs and
   * a preview of at most `previewSide` pixels a side for the heat map: the full-resolution frame
   * stays in the worker.
   *
   * @throws {ImageError} as {@linkcode decode}
   */
  async decodeForScoring(
    bytes: Uint8Array,
    opts: { maxPixels: number; prepare: FramePreparation; previewSide: number } & RequestBudget,
  ): Promise<ScoringDecode> {
    const { maxPixels, prepare, previewSide, ...budget } = opts;
    const reply = await this.#send(
      { id: 0, kind: "decode", bytes, maxPixels, prepare, keepImage: false, previewSide },
      [],
      budget,
    );
    return { width: reply.width, height: reply.height, prepared: reply.prepared!, preview: reply.preview! };
  }

  /**
   * The heat-map overlay of a frame as PNG. The frame's pixel buffer is transferred to the worker
   * (it is unusable afterwards).
   */
  async overlayPng(
    frame: Rgb8Image,
    map: { data: Float32Array; width: number; height: number },
    maxSide = 512,
  ): Promise<{ png: Uint8Array; width: number; height: number }> {
    const reply = await this.#send(
      {
        id: 0,
        kind: "overlay",
        frame,
        map: map.data,
        mapWidth: map.width,
        mapHeight: map.height,
        maxSide,
      },
      [frame.data.buffer as ArrayBuffer],
      {},
    );
    return { png: reply.data, width: reply.width, height: reply.height };
  }

  /** Stops every worker; requests running or queued fail. */
  terminate(): void {
    this.#closed = true;
    const error = new Error("Decode pool was closed");
    for (const slot of this.#slots) this.#end(slot, error);
    for (const job of this.#queue.splice(0)) job.reject(error);
  }

  #send(
    req: WorkerRequest,
    transfer: Transferable[],
    budget: RequestBudget,
  ): Promise<WorkerReply & { ok: true }> {
    if (this.#closed) return Promise.reject(new Error("Decode pool was closed"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ req: { ...req, id: this.#nextId++ }, transfer, budget, resolve, reject });
      this.#dispatch();
    });
  }

  /** Gives queued requests, in order, to idle workers. */
  #dispatch(): void {
    for (const slot of this.#slots) {
      if (!slot.ready || slot.job || !this.#queue.length) continue;
      const job = this.#queue.shift()!;
      slot.job = job;
      const timeoutMs = job.budget.timeoutMs ?? this.#timeoutMs;
      slot.timer = setTimeout(() => {
        this.#replace(
          slot,
          new DecodeBudgetError(
            `Decoding took longer than its budget of ${timeoutMs} ms: the worker was stopped and replaced`,
          ),
        );
      }, timeoutMs);
      try {
        slot.worker.postMessage(job.req, job.transfer);
      } catch (error) {
        this.#finish(slot);
        job.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  /** Clears a slot's job and timer; the worker takes the next request. */
  #finish(slot: Slot): Job | undefined {
    const job = slot.job;
    clearTimeout(slot.timer);
    slot.job = undefined;
    slot.timer = undefined;
    return job;
  }

  #spawn(): Slot {
    const worker = new Worker(new URL("./_decode_worker.ts", import.meta.url), { type: "module" });
    const slot: Slot = { worker, ready: false, job: undefined, timer: undefined };
    worker.onmessage = (event: MessageEvent<WorkerReply | { ready: true }>) => {
      if ("ready" in event.data) {
        slot.ready = true;
        return this.#dispatch();
      }
      const reply = event.data;
      if (slot.job?.req.id !== reply.id) return;
      const job = this.#finish(slot)!;
      if (reply.ok) job.resolve(reply);
      else job.reject(rebuildError(reply.failure));
      const grown = (job.budget.memoryBytes ?? 0) > this.#recycleBytes;
      if (grown && !this.#closed) this.#respawn(slot);
      this.#dispatch();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#replace(slot, new DecoderCrashError(`Decoder worker crashed: ${event.message}`));
    };
    worker.onmessageerror = () => this.#replace(slot, new Error("Decoder worker sent an unreadable message"));
    return slot;
  }

  /** Fails the slot's request, replaces its worker and goes on with the queue. */
  #replace(slot: Slot, error: Error): void {
    this.#end(slot, error);
    if (this.#closed) return;
    this.#respawn(slot);
    this.#dispatch();
  }

  #respawn(slot: Slot): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    slot.worker.terminate();
    this.#slots[i] = this.#spawn();
    this.#replaced++;
  }

  #end(slot: Slot, error: Error): void {
    const job = this.#finish(slot);
    slot.worker.terminate();
    job?.reject(error);
  }
}
