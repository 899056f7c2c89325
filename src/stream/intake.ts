/**
 * Admission of frames, on the main thread and cheap: the station id, the payload size and the
 * image header are checked before a frame costs a decode. An admitted frame is kept in the
 * station's ring (for enrollment by frame id), and queued
 * when the station can score. Each station's queue is bounded: when full, the oldest waiting frame
 * is answered `overload`, so the newest are kept. Frames leave round-robin across stations, so one
 * busy camera cannot starve the others.
 *
 * @module
 */
import { type Msg, nuid } from "@nats-io/transport-node";
import { type DecodeCost, type ImageHeader, readDecodeCost, readImageHeader } from "../image/mod.ts";
import type { FrameRing } from "./frame_ring.ts";
import { FrameErrorReason } from "./messages.ts";
import { reason } from "./profile_store.ts";
import type { ResultPublisher } from "./publisher.ts";
import type { DurableDelivery, Frame, FrameRef, Station, StationTable } from "./stations.ts";
import { parseCapturedAt, parseFrameId, readFrameHeaders } from "./frame_headers.ts";
import { isStationId, SubjectPrefix, subjectRest } from "./subjects.ts";

/** Limits of {@linkcode FrameIntake}. */
export interface IntakeLimits {
  /**
   * Stations tracked at most (a camera may invent ids); beyond it the longest idle station is
   * forgotten, one without a profile first; a profile stays on disk and is loaded again on the
   * station's next frame.
   */
  maxStations: number;
  /** Larger payloads are refused before decoding. */
  maxFrameBytes: number;
  /** Images whose header announces more pixels are refused before decoding. */
  maxPixels: number;
  /** Frames waiting per station before the oldest is dropped. */
  queueDepth: number;
  /**
   * Images whose header announces a larger decode cost (pixels × working bytes per pixel × scans,
   * `readDecodeCost`) are refused before decoding.
   */
  maxDecodeCost: number;
}

/** Who else sees an admitted frame. */
export interface IntakeListeners {
  /** A frame was queued: the batcher may start decoding it. */
  queued(): void;
  /** Whether the station has an enrollment job (it must stay tracked). */
  enrolling(station: string): boolean;
  /** Whether a change of the station's profile is running (it must stay tracked). */
  changing(station: string): boolean;
  /** Loads again the profile of a station forgotten with its profile on disk. */
  reload(station: string): Promise<void>;
}

/** Checks, keeps and queues incoming frames; answers those it refuses. */
export class FrameIntake {
  readonly #stations: StationTable;
  readonly #publisher: ResultPublisher;
  readonly #ring: FrameRing;
  readonly #listeners: IntakeListeners;
  readonly #limits: IntakeLimits;
  /** Stations with frames waiting, in the order they are served. */
  readonly #waiting: string[] = [];
  #invalidStationFrames = 0;
  /** Whether a station is in use beyond its frames (it must stay tracked): made once, asked per new station. */
  readonly #busy = (s: Station) => this.#listeners.enrolling(s.id) || this.#listeners.changing(s.id);
  #malformedHeaderFrames = 0;

  /**
   * An intake with no frame waiting.
   *
   * @param stations the station table (a new station is added on its first frame)
   * @param publisher answers refused and dropped frames
   * @param ring keeps the recent frames of each station
   * @param listeners the enrollment and the batcher
   * @param limits sizes and counts
   */
  constructor(
    stations: StationTable,
    publisher: ResultPublisher,
    ring: FrameRing,
    listeners: IntakeListeners,
    limits: IntakeLimits,
  ) {
    this.#stations = stations;
    this.#publisher = publisher;
    this.#ring = ring;
    this.#listeners = listeners;
    this.#limits = limits;
  }

  /** Frames whose subject named no valid station, or a station beyond the limit. */
  get invalidStationFrames(): number {
    return this.#invalidStationFrames;
  }

  /** Frames whose header block nats.js could not read (read from the raw bytes instead). */
  get malformedHeaderFrames(): number {
    return this.#malformedHeaderFrames;
  }

  /** Whether a station other than `station` has frames waiting. */
  othersWaiting(station: Station): boolean {
    return this.#waiting.length > 1 || (this.#waiting.length === 1 && this.#waiting[0] !== station.id);
  }

  /** Whether any station has frames waiting. */
  get hasWaiting(): boolean {
    return this.#waiting.length > 0;
  }

  /**
   * Admits one frame message: queued for scoring, or answered with why not.
   *
   * @param msg the frame
   * @param durable a durable frame's acknowledgement and result id
   */
  admit(msg: Msg, durable?: DurableDelivery): void {
    const receivedAt = performance.now();
    // Read defensively: a header name nats.js refuses must not cost the frame its answer.
    const headers = readFrameHeaders(msg);
    if (headers.malformed) this.#malformedHeaderFrames++;
    const ref: FrameRef = {
      frameId: parseFrameId(headers.frameId) ?? nuid.next(),
      capturedAt: parseCapturedAt(headers.capturedAt),
      receivedAt,
      receivedIso: new Date().toISOString(),
      durable,
    };
    const token = subjectRest(msg.subject, SubjectPrefix.frames) ?? msg.subject;
    const station = this.#stationOf(token, ref);
    if (!station) return;
    station.stats.received++;
    const checked = this.#checkPayload(station, ref, msg.data);
    if (!checked) return;
    // Our own copy: msg.data is a view into the connection's read buffer.
    const bytes = msg.data.slice();
    this.#ring.add(token, ref.frameId, bytes);
    if (this.#stations.parked.has(token)) this.#reload(station);
    if (!station.slot.current && !station.loading) {
      return this.#publisher.failNoProfile(station, ref, this.#listeners.enrolling(token));
    }
    this.#enqueue(station, { ...ref, station: token, bytes, ...checked });
  }

  /**
   * Empties every station's queue when the service stops: a frame is answered `stopping`, or, when
   * it came from the work-queue stream, handed back unanswered so that the stream delivers it again.
   *
   * @returns how many frames were answered and how many handed back
   */
  abandonWaiting(): { answered: number; handedBack: number } {
    let answered = 0, handedBack = 0;
    for (const id of this.#waiting.splice(0)) {
      const station = this.#stations.get(id)!;
      for (const frame of station.queue.splice(0)) {
        if (frame.durable) {
          frame.durable.release();
          handedBack++;
          continue;
        }
        answered++;
        this.#publisher.fail(
          station,
          frame,
          FrameErrorReason.stopping,
          "The service stopped before this frame's turn: send it again",
        );
      }
    }
    return { answered, handedBack };
  }

  /**
   * The next frame to decode, taken round-robin across stations; undefined when none waits.
   *
   * @param may whether a station may start another decode now (stations refused keep their turn)
   */
  take(may: (station: Station) => boolean = () => true): { station: Station; frame: Frame } | undefined {
    for (let i = 0; i < this.#waiting.length; i++) {
      const id = this.#waiting[i];
      const station = this.#stations.get(id)!;
      if (station.loading || !may(station)) continue;
      this.#waiting.splice(i, 1);
      const frame = station.queue.shift()!;
      if (station.queue.length) this.#waiting.push(id);
      return { station, frame };
    }
    return undefined;
  }

  /** The station a subject's token names, or undefined when the frame was answered as invalid. */
  #stationOf(token: string, ref: FrameRef): Station | undefined {
    if (!isStationId(token)) {
      this.#invalidStationFrames++;
      this.#publisher.invalidStation(token, ref);
      return undefined;
    }
    const { maxStations } = this.#limits;
    const station = this.#stations.admit(token, maxStations, this.#busy);
    if (station) return station;
    this.#invalidStationFrames++;
    this.#publisher.invalidStation(
      token,
      ref,
      `Too many stations: this service tracks at most ${maxStations}, each with a profile or work in ` +
        `progress, and ${token} is not one of them`,
    );
    return undefined;
  }

  /** The image header and cost when the payload may be decoded, else undefined once the frame is answered. */
  #checkPayload(
    station: Station,
    ref: FrameRef,
    data: Uint8Array,
  ): { header: ImageHeader; cost: DecodeCost } | undefined {
    const { maxFrameBytes, maxPixels, maxDecodeCost } = this.#limits;
    if (data.length === 0) {
      this.#publisher.fail(station, ref, FrameErrorReason.empty, "Frame is empty: zero bytes");
      return undefined;
    }
    if (data.length > maxFrameBytes) {
      this.#publisher.fail(
        station,
        ref,
        FrameErrorReason.tooLarge,
        `Frame is too large: ${data.length} bytes, the limit is ${maxFrameBytes} (--max-frame-bytes)`,
      );
      return undefined;
    }
    let header: ImageHeader;
    let cost: DecodeCost;
    try {
      header = readImageHeader(data);
      cost = readDecodeCost(data);
    } catch (error) {
      this.#publisher.fail(station, ref, FrameErrorReason.undecodable, reason(error));
      return undefined;
    }
    const pixels = header.width * header.height;
    if (pixels > maxPixels) {
      this.#publisher.fail(
        station,
        ref,
        FrameErrorReason.tooLarge,
        `Image is too large: its header announces ${header.width}×${header.height} = ${pixels} pixels, ` +
          `the limit is ${maxPixels} (--max-pixels)`,
      );
      return undefined;
    }
    if (cost.cost > maxDecodeCost) {
      this.#publisher.fail(
        station,
        ref,
        FrameErrorReason.tooLarge,
        `Image costs too much to decode: its header announces ${header.width}×${header.height} pixels × ` +
          `${cost.bytesPerPixel} bytes × ${cost.scans} scan(s) = ${cost.cost}, the limit is ${maxDecodeCost} ` +
          `(--max-decode-cost)`,
      );
      return undefined;
    }
    return { header, cost };
  }

  /**
   * The station's frames wait (queued, not taken) while its profile is loaded again; a profile
   * that cannot be loaded leaves the station refusing, and the batcher answers them `profile-invalid`.
   */
  #reload(station: Station): void {
    if (station.loading) return;
    station.loading = this.#listeners.reload(station.id)
      .catch((error) => {
        station.profileError = reason(error);
      })
      .finally(() => {
        station.loading = undefined;
        this.#listeners.queued();
      });
  }

  #enqueue(station: Station, frame: Frame): void {
    const { queueDepth } = this.#limits;
    if (station.queue.length >= queueDepth) {
      const dropped = station.queue.shift()!;
      this.#publisher.fail(
        station,
        dropped,
        FrameErrorReason.overload,
        `Frame dropped: the service is overloaded and keeps the newest ${queueDepth} frames of ${station.id}`,
      );
    }
    station.queue.push(frame);
    if (station.queue.length === 1) this.#waiting.push(station.id);
    this.#listeners.queued();
  }
}
