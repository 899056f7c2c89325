/**
 * Triggered capture: each message on `adp.trigger.<station>` (payload: the part id, as text or as
 * `{"partId": "…"}`) waits for the next frame out of the camera, which is published with the part id
 * as its frame id. A trigger that gets no frame in time, or carries an unusable part id, is answered
 * with an error result on `adp.results.<station>` (reason `capture-failed`), so the PLC never waits
 * on silence. A trigger sent as a request also gets a reply: `{ok, frameId}` or `{ok: false, error}`.
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  encodeMessage,
  FrameErrorReason,
  parseFrameId,
  type ResultMessage,
  resultsSubject,
  triggerSubject,
} from "../stream/mod.ts";

/** What the desk needs from its capture. */
export interface TriggerDeskOptions {
  station: string;
  timeoutMs: number;
  log: (line: string) => void;
  /** Publishes a frame; returns why it was refused, if it was. */
  publish: (frame: Uint8Array, frameId: string) => string | undefined;
  /** Counters updated in place (`triggers`, `triggerErrors`). */
  stats: { triggers: number; triggerErrors: number };
}

interface Waiter {
  partId: string;
  at: number;
  reply?: string;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The model field of results the camera makes itself (it runs no model). */
const CAMERA_MODEL = { id: "adp-camera", hash: "" } as const;

/** Pairs triggers with the frames that follow them. */
export class TriggerDesk {
  readonly #nc: NatsConnection;
  readonly #opts: TriggerDeskOptions;
  readonly #sub: Subscription;
  #waiting: Waiter[] = [];
  #invalid = 0;

  /** Subscribes to the station's trigger subject. */
  constructor(nc: NatsConnection, opts: TriggerDeskOptions) {
    this.#nc = nc;
    this.#opts = opts;
    this.#sub = nc.subscribe(triggerSubject(opts.station), { callback: (_e, m) => this.#onTrigger(m) });
  }

  /** A frame from the camera: it answers the oldest waiting trigger, if any. */
  offer(frame: Uint8Array): void {
    const waiter = this.#waiting.shift();
    if (!waiter) return;
    clearTimeout(waiter.timer);
    const refused = this.#opts.publish(frame, waiter.partId);
    if (refused) this.#fail(waiter, `Capture refused: ${refused}`);
    else this.#answer(waiter, { ok: true, station: this.#opts.station, frameId: waiter.partId });
  }

  /** Stops listening; triggers still waiting are answered with an error result. */
  close(): void {
    this.#sub.unsubscribe();
    for (const w of this.#waiting.splice(0)) {
      clearTimeout(w.timer);
      this.#fail(w, "Capture stopped before a frame arrived");
    }
  }

  #onTrigger(m: Msg): void {
    this.#opts.stats.triggers++;
    const raw = partIdOf(m);
    const partId = parseFrameId(raw);
    const now = Date.now();
    if (!partId) {
      const id = `${this.#opts.station}-invalid-trigger-${++this.#invalid}`;
      const shown = JSON.stringify((raw ?? "").slice(0, 60));
      this.#fail(
        { partId: id, at: now, reply: m.reply, timer: undefined },
        `Trigger refused: part id ${shown} is not 1–128 printable ASCII characters without spaces`,
      );
      return;
    }
    const waiter: Waiter = { partId, at: now, reply: m.reply, timer: undefined };
    waiter.timer = setTimeout(() => {
      this.#waiting = this.#waiting.filter((w) => w !== waiter);
      this.#fail(waiter, `No frame from the camera within ${this.#opts.timeoutMs} ms of the trigger`);
    }, this.#opts.timeoutMs);
    this.#waiting.push(waiter);
  }

  #fail(w: Waiter, error: string): void {
    this.#opts.stats.triggerErrors++;
    const now = new Date();
    const result: ResultMessage = {
      station: this.#opts.station,
      frameId: w.partId,
      capturedAt: null,
      receivedAt: new Date(w.at).toISOString(),
      scoredAt: now.toISOString(),
      score: null,
      textScore: null,
      patchScore: null,
      threshold: null,
      anomalous: null,
      profileVersion: null,
      model: { ...CAMERA_MODEL },
      latencyMs: now.getTime() - w.at,
      error,
      reason: FrameErrorReason.captureFailed,
    };
    this.#nc.publish(resultsSubject(this.#opts.station), encodeMessage(result));
    this.#opts.log(`adp camera ${this.#opts.station}: trigger ${w.partId}: ${error}`);
    this.#answer(w, { ok: false, station: this.#opts.station, frameId: w.partId, error });
  }

  #answer(w: Waiter, reply: Record<string, unknown>): void {
    if (w.reply) this.#nc.publish(w.reply, encodeMessage(reply));
  }
}

function partIdOf(m: Msg): string | undefined {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(m.data).trim();
  } catch {
    return undefined;
  }
  if (text.startsWith("{")) {
    try {
      const v = JSON.parse(text) as { partId?: unknown };
      return typeof v.partId === "string" ? v.partId : undefined;
    } catch {
      return undefined;
    }
  }
  return text;
}
