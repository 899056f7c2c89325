/**
 * Operator feedback on the bus: `adp.feedback.<station>` carries {frameId, label: good|defect,
 * note?, by?} from an operator or a PLC (a request, in the instance queue group). The service finds
 * the frame among those it keeps — the recent frames of each station (the ring enrollment by frame
 * id reads) and, longer, every frame it flagged — scores it again with the profile in force, makes
 * the next profile version with `applyFeedback` (src/adp/feedback.ts: memory and calibration for a
 * good part, a labelled example for a defect), saves it and swaps it in like an enrollment, then
 * replies with the version now in force. A refusal is a JSON body `{"error": {status, message}}`
 * with the `Nats-Service-Error` headers, as the service endpoints answer.
 *
 * With several instances, the one that takes the request must hold the frame: each keeps the frames
 * it scored.
 *
 * @module
 */
import { headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { applyFeedback, type Scorer, type StationProfile } from "../adp/mod.ts";
import { Guard, printable } from "../guard.ts";
import { decodeImage } from "../image/mod.ts";
import { MessageError, RequestRefusedError, ServiceErrorCode, serviceErrorCode } from "./errors.ts";
import { FrameRing } from "./frame_ring.ts";
import { encodeMessage } from "./messages.ts";
import { reason } from "./profile_store.ts";
import type { BusConnection } from "./connect.ts";
import { requestJson } from "./service_client.ts";
import { FEEDBACK_WILDCARD, feedbackSubject, isStationId, SubjectPrefix } from "./subjects.ts";

/** `adp.feedback.<station>` request. */
export interface FeedbackRequest {
  /** The frame labelled (its `Adp-Frame-Id`, as results name it). */
  frameId: string;
  /** What the part is. */
  label: "good" | "defect";
  /** Why, in words (kept in the profile's revision). */
  note?: string;
  /** Who: an operator's login, a PLC's name. */
  by?: string;
}

/** `adp.feedback.<station>` reply: the profile version the label produced, now in force. */
export interface FeedbackReply {
  station: string;
  frameId: string;
  label: "good" | "defect";
  /** The version in force now. */
  profileVersion: number;
  /** The version the label was applied to. */
  previousVersion: number;
  /** The threshold now in force, and before (fused units). */
  threshold: number;
  previousThreshold: number;
}

const guard = new Guard((message, options) => new MessageError(message, options));

/**
 * Decodes a feedback request.
 *
 * @throws {MessageError} saying which field is wrong
 *
 * @example
 * ```ts
 * import { deepStrictEqual, throws } from "node:assert/strict";
 * deepStrictEqual(decodeFeedbackRequest('{"frameId":"f1","label":"good"}'), { frameId: "f1", label: "good" });
 * throws(() => decodeFeedbackRequest('{"frameId":"f1","label":"ok"}'), /label must be/);
 * ```
 */
export function decodeFeedbackRequest(data: Uint8Array | string): FeedbackRequest {
  const f = guard.object(guard.parseJson(data, "Feedback request", 16 * 1024), "request");
  guard.only(f, ["frameId", "label", "note", "by"], "request");
  const req: FeedbackRequest = {
    frameId: guard.string(f.frameId, "frameId", { max: 128, controls: false }),
    label: guard.oneOf(f.label, "label", ["good", "defect"] as const),
  };
  if (f.note !== undefined) req.note = guard.string(f.note, "note", { max: 1024, controls: false });
  if (f.by !== undefined) req.by = guard.string(f.by, "by", { max: 256, controls: false });
  return req;
}

/** Options of {@linkcode FeedbackFrames}. */
export interface FeedbackFramesOptions {
  /** Flagged frames kept per station. @default 256 */
  flaggedPerStation?: number;
  /** Bytes of flagged frames kept in all. @default 256 MiB */
  flaggedBytes?: number;
}

/**
 * The frames feedback can name: the recent ones (the ring shared with enrollment, bounded per
 * station by count and in all by bytes) and every flagged one, copied to a second, larger ring
 * when its anomalous verdict goes out, so an operator reviewing rejects finds them long after.
 */
export class FeedbackFrames {
  readonly #recent: FrameRing;
  readonly #flagged: FrameRing;

  /**
   * @param recent the recent frames of every station
   * @param opts the flagged ring's bounds
   */
  constructor(recent: FrameRing, opts: FeedbackFramesOptions = {}) {
    this.#recent = recent;
    this.#flagged = new FrameRing({
      perStation: opts.flaggedPerStation ?? 256,
      totalBytes: opts.flaggedBytes ?? 256 * 1024 * 1024,
    });
  }

  /** Keeps a flagged frame (while the recent ring still holds it: right after its verdict). */
  flag(station: string, frameId: string): void {
    const [bytes] = this.#recent.find(station, [frameId]).frames;
    if (bytes) this.#flagged.add(station, frameId, bytes);
  }

  /** The frame's bytes, or undefined when neither ring holds it. */
  find(station: string, frameId: string): Uint8Array | undefined {
    return this.#flagged.find(station, [frameId]).frames[0] ??
      this.#recent.find(station, [frameId]).frames[0];
  }
}

/** What the feedback service needs of the processor. */
export interface FeedbackHost {
  /**
   * Runs `next` with the station's scorer in force, alone among the station's profile changes, then
   * saves and swaps in the profile it returns; resolves with its version once it is in force.
   *
   * @throws {RequestRefusedError} when the station has no profile
   */
  evolve(station: string, next: (scorer: Scorer) => Promise<StationProfile>): Promise<number>;
  /** Where outcomes are logged. */
  log(line: string): void;
}

/** Answers `adp.feedback.*`. */
export class FeedbackService {
  readonly #nc: NatsConnection;
  readonly #frames: FeedbackFrames;
  readonly #host: FeedbackHost;
  readonly #queueGroup: string;
  #sub: Subscription | undefined;
  readonly #pending = new Set<Promise<void>>();

  /**
   * @param nc the connection requests come in on
   * @param recent the recent frames of every station (the flagged ones are kept here besides)
   * @param host the processor's profile changes
   * @param opts the instances' queue group, the flagged frames' bounds
   */
  constructor(
    nc: NatsConnection,
    recent: FrameRing,
    host: FeedbackHost,
    opts: FeedbackFramesOptions & { queueGroup: string },
  ) {
    this.#nc = nc;
    this.#frames = new FeedbackFrames(recent, opts);
    this.#host = host;
    this.#queueGroup = opts.queueGroup;
  }

  /** Keeps a frame whose verdict was anomalous for longer than the recent ones. */
  flag(station: string, frameId: string): void {
    this.#frames.flag(station, frameId);
  }

  /** Subscribes (in the queue group). */
  start(): void {
    const sub = this.#sub = this.#nc.subscribe(FEEDBACK_WILDCARD, { queue: this.#queueGroup });
    (async () => {
      for await (const msg of sub) {
        const task = this.#handle(msg);
        this.#pending.add(task);
        task.finally(() => this.#pending.delete(task));
      }
    })().catch((error) => this.#host.log(`error: feedback subscription ended: ${reason(error)}`));
  }

  /** Stops taking requests and waits for those being applied. */
  async stop(): Promise<void> {
    if (this.#sub && !this.#sub.isClosed()) this.#sub.unsubscribe();
    await Promise.allSettled([...this.#pending]);
  }

  async #handle(msg: Msg): Promise<void> {
    const token = msg.subject.slice(SubjectPrefix.feedback.length + 1);
    try {
      if (!isStationId(token)) {
        throw new RequestRefusedError(
          ServiceErrorCode.BAD_REQUEST,
          `${printable(msg.subject)} names no station`,
        );
      }
      const req = decodeFeedbackRequest(msg.data);
      let before!: StationProfile, after!: StationProfile;
      const version = await this.#host.evolve(token, async (scorer) => {
        before = scorer.profile;
        return after = await this.#next(token, req, scorer);
      });
      const reply: FeedbackReply = {
        station: token,
        frameId: req.frameId,
        label: req.label,
        profileVersion: version,
        previousVersion: before.meta.version,
        threshold: after.meta.threshold,
        previousThreshold: before.meta.threshold,
      };
      msg.respond(encodeMessage(reply));
      this.#host.log(
        `feedback on ${token}/${req.frameId} (${req.label}${
          req.by ? ` by ${req.by}` : ""
        }): profile v${version}`,
      );
    } catch (error) {
      const status = serviceErrorCode(error), message = reason(error);
      const h = headers();
      h.set("Nats-Service-Error-Code", String(status));
      h.set("Nats-Service-Error", message);
      msg.respond(encodeMessage({ error: { status, message } }), { headers: h });
      this.#host.log(`feedback on ${printable(token)} refused: ${message}`);
    }
  }

  /** The next profile: the frame scored again by the profile in force, and the label applied. */
  async #next(station: string, req: FeedbackRequest, scorer: Scorer): Promise<StationProfile> {
    const bytes = this.#frames.find(station, req.frameId);
    if (!bytes) {
      throw new RequestRefusedError(
        ServiceErrorCode.NOT_FOUND,
        `Frame ${req.frameId} of ${station} is not held by this instance (unknown, or older than the frames kept)`,
      );
    }
    const image = await decodeImage(bytes);
    const [seen] = await scorer.scoreRgb([image]);
    const features = req.label === "good" ? (await scorer.memoryFeatures([image]))[0] : undefined;
    return applyFeedback(
      scorer.profile,
      req.label,
      { frameId: req.frameId, patch: seen.patchScore, text: seen.textScore, features },
      {
        at: new Date().toISOString(),
        ...(req.by !== undefined ? { by: req.by } : {}),
        ...(req.note !== undefined ? { note: req.note } : {}),
      },
    );
  }
}

/**
 * Sends feedback on a frame and waits for the profile version it produced to be in force.
 *
 * @param nc the connection
 * @param station the station
 * @param req the frame and its label
 * @param opts how long to wait (applying a good label re-extracts the frame and reopens the memory)
 * @throws {RequestRefusedError} when the service refuses (unknown frame or station, malformed)
 * @throws {BusError} when no service answers
 */
export function requestFeedback(
  nc: BusConnection,
  station: string,
  req: FeedbackRequest,
  opts: { timeoutMs?: number } = {},
): Promise<FeedbackReply> {
  return requestJson<FeedbackReply>(nc, feedbackSubject(station), req, {
    timeoutMs: opts.timeoutMs ?? 30_000,
  });
}
