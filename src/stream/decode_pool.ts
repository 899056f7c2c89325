/**
 * A pool of Deno workers that decode frames, prepare them for the model (resize and normalise:
 * `prepareFrame`) and encode heat-map PNGs, so the main thread only batches, runs the model and
 * publishes. Requests go to the least busy worker; decoded pixels come
 * back as transferred buffers (no copy). A worker that dies (a decoder crash on hostile input) fails
 * only its own requests and is replaced.
 *
 * @module
 */
import type { Rgb8Image } from "../image/mod.ts";
import type { FramePreparation, PreparedFrame } from "../adp/mod.ts";
import { DecoderCrashError } from "./errors.ts";
import { rebuildError, type WorkerFailure } from "./_worker_failure.ts";

/** A request to a decode worker. @internal */
export type WorkerRequest =
  | { id: number; kind: "decode"; bytes: Uint8Array; maxPixels: number; prepare: FramePreparation | null }
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
  | { id: number; ok: true; width: number; height: number; data: Uint8Array; prepared?: PreparedFrame }
  | { id: number; ok: false; failure: WorkerFailure };

interface Pending {
  resolve(reply: WorkerReply & { ok: true }): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** Decoding and PNG encoding off the main thread. */
export class DecodePool {
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #closed = false;

  /**
   * Starts the workers.
   *
   * @param size number of workers; @default cores − 1, 1 to 4
   */
  constructor(size?: number) {
    const n = size ?? Math.max(1, Math.min(4, (navigator.hardwareConcurrency ?? 2) - 1));
    for (let i = 0; i < n; i++) this.#slots.push(this.#spawn());
  }

  /** Number of workers. */
  get size(): number {
    return this.#slots.length;
  }

  /**
   * Decodes a PNG or JPEG in a worker and, given a preparation, prepares it for scoring there too.
   *
   * @param bytes the encoded frame (copied to the worker; the caller keeps it)
   * @param maxPixels pixel limit
   * @param prepare what scoring needs made of the frame; null: decode only
   * @throws {ImageError} when the frame cannot be decoded ({@linkcode DecoderCrashError} when its worker died)
   */
  async decode(
    bytes: Uint8Array,
    maxPixels: number,
    prepare: FramePreparation | null = null,
  ): Promise<{ image: Rgb8Image; prepared: PreparedFrame | undefined }> {
    const reply = await this.#send({ id: 0, kind: "decode", bytes, maxPixels, prepare }, []);
    return {
      image: { width: reply.width, height: reply.height, data: reply.data },
      prepared: reply.prepared,
    };
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
    const reply = await this.#send({
      id: 0,
      kind: "overlay",
      frame,
      map: map.data,
      mapWidth: map.width,
      mapHeight: map.height,
      maxSide,
    }, [frame.data.buffer as ArrayBuffer]);
    return { png: reply.data, width: reply.width, height: reply.height };
  }

  /** Stops every worker; requests still in flight fail. */
  terminate(): void {
    this.#closed = true;
    for (const slot of this.#slots) this.#kill(slot, new Error("Decode pool was closed"));
  }

  #send(req: WorkerRequest, transfer: Transferable[]): Promise<WorkerReply & { ok: true }> {
    if (this.#closed) return Promise.reject(new Error("Decode pool was closed"));
    const slot = this.#slots.reduce((a, b) => b.pending.size < a.pending.size ? b : a);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...req, id }, transfer);
    });
  }

  #spawn(): Slot {
    const worker = new Worker(new URL("./_decode_worker.ts", import.meta.url), { type: "module" });
    const slot: Slot = { worker, pending: new Map() };
    worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      const reply = event.data;
      const pending = slot.pending.get(reply.id);
      if (!pending) return;
      slot.pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply);
      else pending.reject(rebuildError(reply.failure));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#replace(slot, new DecoderCrashError(`Decoder worker crashed: ${event.message}`));
    };
    worker.onmessageerror = () => this.#replace(slot, new Error("Decoder worker sent an unreadable message"));
    return slot;
  }

  #replace(slot: Slot, error: Error): void {
    this.#kill(slot, error);
    if (this.#closed) return;
    const i = this.#slots.indexOf(slot);
    if (i >= 0) this.#slots[i] = this.#spawn();
  }

  #kill(slot: Slot, error: Error): void {
    slot.worker.terminate();
    for (const p of slot.pending.values()) p.reject(error);
    slot.pending.clear();
  }
}
