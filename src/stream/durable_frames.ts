/**
 * Durable frames (`--jetstream`): a stream keeps every frame published on `adp.frames.>` until an
 * instance of each queue group has answered it, so a service killed or stopped loses none. The
 * instances of a group share one durable pull consumer (a work queue among them); a frame is
 * acknowledged only once its result has been published (the acknowledgement follows the result on
 * the same connection, so the server sees the result first). A frame whose instance died unacknowledged is
 * redelivered after the ack wait, to whichever instance pulls next: at-least-once delivery. Results
 * are kept too, in stream `ADP_RESULTS` (a subscriber that was down reads what it missed), once per
 * frame: each carries the frame's stream sequence as `Nats-Msg-Id`, so a redelivered frame's second
 * result is dropped by the stream (exactly-once effect) within its duplicate window, which is as long
 * as a frame is kept: a frame cannot be redelivered after it. Live subscribers may still see it twice,
 * with the same `Nats-Msg-Id` (result_repeats.ts). A frame still waiting in this instance (queued
 * or decoding under load, longer than the ack wait) is not redelivered: it is marked in progress
 * (`working`) every third of the ack wait until it is settled, and a copy that comes again anyway
 * (a mark late) is not handled twice: its acknowledgement goes to the newest delivery.
 *
 * @module
 */
import { millis, type Msg, nanos, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  type ConsumerMessages,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  type JsMsg,
  RetentionPolicy,
} from "@nats-io/jetstream";
import { reason } from "./profile_store.ts";
import type { DurableDelivery } from "./stations.ts";
import { FRAMES_WILDCARD, JetStreamName, RESULTS_WILDCARD } from "./subjects.ts";

/** Settings of the frame stream and its consumer. */
export interface DurableFramesOptions {
  /** The queue group: its instances share the consumer `adp-frames-<group>`. */
  queueGroup: string;
  /** Frames delivered and not yet answered, per group (JetStream's `max_ack_pending`). @default 64 */
  maxInFlight?: number;
  /** How long a delivered frame may stay unanswered before it is delivered again. @default 15000 */
  ackWaitMs?: number;
  /** Frames older than this leave the stream unanswered (a camera's picture goes stale). @default 1 h */
  maxAgeMs?: number;
  /** Bytes the stream keeps at most; beyond it the oldest frames go. @default 1 GiB */
  maxBytes?: number;
  /** Where warnings go. */
  log: (line: string) => void;
}

/**
 * Receives each durable frame; its `settle` is called once its result is published, and its
 * `resultId` (the frame's stream sequence: the same on a redelivery) names the result in the stream.
 */
export type DurableFrameHandler = (msg: Msg, delivery: DurableDelivery) => void;

/** The consumer loop of an instance. */
export interface DurableFrames {
  /** Stops pulling; frames already delivered are still settled by their handler. */
  stop(): Promise<void>;
}

/** The consumer's name for a queue group (a durable name allows no dots or wildcards). */
export function framesConsumerName(queueGroup: string): string {
  return `adp-frames-${queueGroup.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/**
 * Creates (or keeps) the frame and result streams and the group's consumer, and starts pulling
 * frames into `handle`.
 *
 * @param nc the service's connection
 * @param opts group, limits and log
 * @param handle admits each frame; its `settle` acknowledges it
 * @returns the running loop
 */
export async function startDurableFrames(
  nc: NatsConnection,
  opts: DurableFramesOptions,
  handle: DurableFrameHandler,
): Promise<DurableFrames> {
  const jsm = await jetstreamManager(nc);
  const stream = JetStreamName.frameStream;
  await ensure(opts, () =>
    jsm.streams.add({
      name: stream,
      subjects: [FRAMES_WILDCARD],
      // Interest: each queue group (one durable consumer each) gets every frame, as on the core bus;
      // a frame goes once every group has acknowledged it.
      retention: RetentionPolicy.Interest,
      discard: DiscardPolicy.Old,
      max_age: nanos(opts.maxAgeMs ?? 3600 * 1000),
      max_bytes: opts.maxBytes ?? 1024 ** 3,
    }), () => jsm.streams.info(stream));
  const durable = framesConsumerName(opts.queueGroup);
  await ensure(opts, () =>
    jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(opts.ackWaitMs ?? 15_000),
      max_ack_pending: opts.maxInFlight ?? 64,
    }), () => jsm.consumers.info(stream, durable));
  await ensure(opts, () =>
    jsm.streams.add({
      name: JetStreamName.resultStream,
      subjects: [RESULTS_WILDCARD],
      max_age: nanos(opts.maxAgeMs ?? 3600 * 1000),
      max_bytes: opts.maxBytes ?? 1024 ** 3,
      discard: DiscardPolicy.Old,
      // As long as a frame is kept: a redelivery (after any outage of the group) is still a repeat.
      duplicate_window: nanos(opts.maxAgeMs ?? 3600 * 1000),
    }), () => jsm.streams.info(JetStreamName.resultStream));
  // The consumer's own ack wait (an operator's may differ from ours) paces the in-progress marks.
  const { config } = await jsm.consumers.info(stream, durable);
  const ackWaitMs = millis(config.ack_wait ?? nanos(opts.ackWaitMs ?? 15_000));
  const consumer = await jetstream(nc).consumers.get(stream, durable);
  const messages = await consumer.consume({ max_messages: Math.min(32, opts.maxInFlight ?? 64) });
  return new FrameConsumer(messages, handle, { log: opts.log, workingEveryMs: Math.max(100, ackWaitMs / 3) });
}

/** Adds a stream or consumer; one that exists with other settings (an operator's) is used as it is. */
async function ensure(
  opts: DurableFramesOptions,
  add: () => Promise<unknown>,
  info: () => Promise<unknown>,
): Promise<void> {
  try {
    await add();
  } catch (error) {
    await info().catch(() => {
      throw error;
    });
    opts.log(`JetStream: using the existing settings (${reason(error)})`);
  }
}

/** A delivered frame not settled yet: its newest delivery, and the timer that marks it in progress. */
interface HeldFrame {
  jm: JsMsg;
  timer: ReturnType<typeof setInterval>;
}

class FrameConsumer implements DurableFrames {
  readonly #messages: ConsumerMessages;
  readonly #loop: Promise<void>;
  readonly #log: (line: string) => void;
  readonly #workingEveryMs: number;
  /** Frames handled and not settled, by stream sequence. */
  readonly #held = new Map<number, HeldFrame>();

  constructor(
    messages: ConsumerMessages,
    handle: DurableFrameHandler,
    opts: { log: (line: string) => void; workingEveryMs: number },
  ) {
    this.#messages = messages;
    this.#log = opts.log;
    this.#workingEveryMs = opts.workingEveryMs;
    this.#loop = (async () => {
      for await (const jm of messages) this.#deliver(jm, handle);
    })().catch((error) => this.#log(`error: durable frame consumer ended: ${reason(error)}`));
  }

  #deliver(jm: JsMsg, handle: DurableFrameHandler): void {
    const held = this.#held.get(jm.seq);
    if (held) {
      // Delivered again while this instance still holds it: answered once, acknowledged as the newest.
      held.jm = jm;
      return;
    }
    const frame: HeldFrame = { jm, timer: setInterval(() => this.#working(jm.seq), this.#workingEveryMs) };
    this.#held.set(jm.seq, frame);
    const settle = () => {
      if (this.#forget(jm.seq)) frame.jm.ack();
    };
    // Handed back unanswered (the service stops): the stream delivers it again, to any instance.
    const release = () => {
      if (this.#forget(jm.seq)) frame.jm.nak();
    };
    try {
      // The stored message with its original subject and headers.
      handle((jm as unknown as { msg: Msg }).msg, { settle, release, resultId: `frame-${jm.seq}` });
    } catch (error) {
      // Left unacknowledged: delivered again after the ack wait.
      this.#forget(jm.seq);
      this.#log(`error: durable frame on ${jm.subject} not handled: ${reason(error)}`);
    }
  }

  /** Marks a held frame in progress; a connection that cannot send it ends the marks (the frame comes again). */
  #working(seq: number): void {
    try {
      this.#held.get(seq)?.jm.working();
    } catch (error) {
      this.#forget(seq);
      this.#log(`warning: frame ${seq} not marked in progress, it may be delivered again: ${reason(error)}`);
    }
  }

  /** Forgets a held frame; whether it was held. */
  #forget(seq: number): boolean {
    const held = this.#held.get(seq);
    if (!held) return false;
    clearInterval(held.timer);
    this.#held.delete(seq);
    return true;
  }

  async stop(): Promise<void> {
    this.#messages.stop();
    await this.#loop;
  }
}
