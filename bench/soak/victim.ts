/**
 * The other station of every soak attack: an enrolled station streaming good frames at a steady
 * rate, whose latency is measured by the client, from the frame's publication to its result's
 * arrival (the service's own `latencyMs` starts when it takes the frame in, so it misses the time a
 * frame waits on the socket while the service's thread is busy). It is a camera of its own: its
 * connection is not the attacker's, so its frames never wait in the attacker's send buffer. Its p99
 * in a quiet phase is set beside its p99 while an attack runs, with the service's share of it. Around an outage (a nats-server restart, a killed service)
 * the p99 counts only the frames whose time in flight (publication to result) does not overlap the
 * outage, which lasts from the fault's start until the first frame published after the fault ended
 * (the server or a fresh service up) is answered: a frame caught in it waits for the bus or the
 * service to come back, which is the fault, not starvation.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { publishFrame, quantile, ResultTracker } from "./service.ts";

/** Publishes one frame of `station` with id `id` (plainly, or through JetStream with retries). */
export type FramePublish = (station: string, bytes: Uint8Array, id: string) => Promise<void> | void;

/** What a victim needs. */
export interface VictimOptions {
  /** The victim camera's own connection. */
  nc: NatsConnection;
  /** An enrolled station. */
  station: string;
  /** Good frames, streamed in turn. */
  frames: Uint8Array[];
  /** Frames a second. @default 1 */
  fps?: number;
  /** How a frame is sent. @default a plain publish */
  publish?: FramePublish;
  /** Results the subscription missed (it was disconnected) are read from `ADP_RESULTS`. */
  jetstream?: boolean;
}

/** A fault's span (ms, `performance.now()`): from its start until the server or service was back. */
export interface Outage {
  from: number;
  to: number;
}

/** One streaming phase's figures. */
export interface VictimPhase {
  sent: number;
  answered: number;
  lost: number;
  /** Answered with a reason instead of a score. */
  unscored: number;
  /** p99 of publish → result (ms) of the scored frames clear of the outages; NaN when none. */
  p99: number;
  /** How many frames the p99 was taken over. */
  counted: number;
  /** p99 of the same frames' `latencyMs`: the service's part, from taking the frame in to its result. */
  serviceP99: number;
  /** Second results for a frame id (a redelivered frame, answered again). */
  repeats: number;
}

/** Victims made in this process: each one's frame ids are its own. */
let victims = 0;

/** A station streaming beside an attack. */
export class Victim {
  readonly station: string;
  readonly #opts: VictimOptions;
  readonly #prefix = `victim${victims++}`;
  #phase = 0;

  constructor(opts: VictimOptions) {
    this.#opts = opts;
    this.station = opts.station;
  }

  /** Streams for `seconds` with nothing else going on; the phase's figures. */
  async quiet(seconds: number, settleMs = 60_000): Promise<VictimPhase> {
    return await this.during(() => new Promise((r) => setTimeout(r, seconds * 1000)), { settleMs });
  }

  /**
   * Streams from now until `attack` has resolved (and at least `minSeconds`), then waits up to
   * `settleMs` for the answers. `attack` may return its outages, which the p99 leaves out.
   */
  async during(
    attack: () => Promise<Outage[] | void>,
    opts: { minSeconds?: number; settleMs?: number } = {},
  ): Promise<VictimPhase> {
    const { nc, frames } = this.#opts;
    const fps = this.#opts.fps ?? 1;
    const publish = this.#opts.publish ?? ((s, b, id) => publishFrame(nc, s, b, id));
    const tracker = new ResultTracker(nc, this.station);
    await nc.flush();
    const tag = `${this.#prefix}-${this.#phase++}`;
    const sentAt = new Map<string, number>();
    const sending: Promise<void>[] = [];
    let done = false;
    let outages: Outage[] = [];
    const attacking = attack().then((o) => {
      outages = o ?? [];
    }).finally(() => done = true);
    const until = performance.now() + 1000 * (opts.minSeconds ?? 0);
    for (let i = 0; !done || performance.now() < until; i++) {
      const id = `${tag}-${i}`;
      sentAt.set(id, performance.now());
      sending.push(Promise.resolve(publish(this.station, frames[i % frames.length], id)));
      await new Promise((r) => setTimeout(r, 1000 / fps));
    }
    await attacking;
    await Promise.all(sending);
    let missing = await tracker.waitAll(sentAt.keys(), opts.settleMs ?? 60_000);
    const settled = performance.now();
    if (missing.length && this.#opts.jetstream) {
      await tracker.fillFromStream(nc);
      missing = missing.filter((id) => !tracker.byId.has(id));
    }
    tracker.stop();
    const answeredAt = (id: string) => {
      const t = tracker.byId.get(id);
      return t && t.at < settled ? t.at : Infinity; // read from the stream: its arrival is unknown
    };
    // An outage ends when the first frame published after the fault is answered.
    const windows = outages.map(({ from, to }) => ({
      from,
      to: Math.min(...[...sentAt].filter(([, at]) => at >= to).map(([id]) => answeredAt(id))),
    }));
    const clear = (from: number, to: number) => windows.every((w) => to < w.from || from > w.to);
    const latencies: number[] = [];
    const inService: number[] = [];
    let unscored = 0;
    for (const [id, at] of sentAt) {
      const t = tracker.byId.get(id);
      if (!t) continue;
      if (t.result.score == null) unscored++;
      else if (clear(at, answeredAt(id)) && answeredAt(id) < Infinity) {
        latencies.push(answeredAt(id) - at);
        inService.push(t.result.latencyMs);
      }
    }
    return {
      sent: sentAt.size,
      answered: sentAt.size - missing.length,
      lost: missing.length,
      unscored,
      p99: quantile(latencies, 0.99),
      counted: latencies.length,
      serviceP99: quantile(inService, 0.99),
      repeats: tracker.duplicates,
    };
  }
}

/** The report's problems for a victim phase: frames lost or unscored, p99 over 2× the quiet one. */
export function victimProblems(quiet: VictimPhase, loud: VictimPhase, lossExpected = false): string[] {
  const problems: string[] = [];
  if (loud.lost && !lossExpected) problems.push(`${loud.lost} victim frames lost`);
  if (loud.unscored) problems.push(`${loud.unscored} victim frames answered without a score`);
  if (!(loud.p99 <= 2 * quiet.p99)) {
    problems.push(`victim p99 ${Math.round(loud.p99)} ms > 2× quiet ${Math.round(quiet.p99)} ms`);
  }
  return problems;
}

/** The victim's p99s before and during an attack, end to end and in the service, rounded (ms). */
export function victimP99s(v: { quiet: VictimPhase; loud: VictimPhase }): {
  quietP99: number;
  attackP99: number;
  quietServiceP99: number;
  attackServiceP99: number;
} {
  return {
    quietP99: Math.round(v.quiet.p99),
    attackP99: Math.round(v.loud.p99),
    quietServiceP99: Math.round(v.quiet.serviceP99),
    attackServiceP99: Math.round(v.loud.serviceP99),
  };
}

/** The victim's quiet phase, then its phase during `attack`: both p99s and the problems. */
export async function beside(
  victim: Victim,
  attack: () => Promise<Outage[] | void>,
  opts: { quietS?: number; minSeconds?: number; settleMs?: number; lossExpected?: boolean } = {},
): Promise<{ quiet: VictimPhase; loud: VictimPhase; problems: string[] }> {
  const quiet = await victim.quiet(opts.quietS ?? 15);
  const loud = await victim.during(attack, opts);
  return { quiet, loud, problems: victimProblems(quiet, loud, opts.lossExpected) };
}
