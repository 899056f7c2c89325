/**
 * Fault attacks of issue 17 against `adp serve` children, each with the figures of the attack table
 * (frames sent, answered, lost, peak RSS, the streaming station's p99 beside its quiet p99; around an
 * outage, of the frames clear of it: victim.ts):
 *
 * - nats-server restart while a camera streams: frames the bus drops are lost without JetStream
 *   (counted here, and by the service as results it had to publish while disconnected); with it the
 *   camera publishes through JetStream (acknowledged, retried) and results missed while
 *   disconnected are read from the result stream;
 * - kill -9 of the service while a camera streams, a fresh instance started on the same state dir:
 *   without JetStream the frames sent while no instance ran are lost; with it none is (the frame
 *   stream keeps them, redelivers what the dead instance had not acknowledged);
 * - an enrollment of 16 shots on one station while another streams: the streaming station's p99
 *   must stay within 2× its quiet p99.
 *
 * @module
 */
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { framesSubject, Header, requestEnrollment } from "../../src/stream/mod.ts";
import type { AttackReport } from "./attacks.ts";
import { publishFrame, requestStatus, type ServeProcess } from "./service.ts";
import { beside, Victim, victimP99s, type VictimPhase } from "./victim.ts";

/** Seconds the victim streams before a fault, and at least in all around it. */
const FAULT_LEAD_S = 3;
const FAULT_SECONDS = 20;

/** What the fault attacks need. */
export interface FaultOptions {
  /** A client connection (it reconnects across a server restart). */
  nc: NatsConnection;
  /** The victim camera's own connection (it reconnects too). */
  victimNc: NatsConnection;
  /** Starts a fresh `adp serve` on the attack's state dir (JetStream or not, as the attack is run). */
  spawn: () => Promise<ServeProcess>;
  /** Restarts nats-server on the same port and store. */
  restartServer?: () => Promise<void>;
  /** An enrolled station streaming through the attack. */
  station: string;
  /** Good frames to stream and enroll from. */
  frames: Uint8Array[];
  /** Frames a second the station streams. @default VICTIM_FPS */
  fps?: number;
  /** How long to wait for the last answers (a redelivery waits for the ack wait). @default 90 s with JetStream, else 20 s */
  settleMs?: number;
  log: (line: string) => void;
}

/**
 * A frame published as a camera that must lose nothing does it with JetStream: until the frame
 * stream acknowledges it, retried with the frame id as `Nats-Msg-Id` (a retry stored once). A plain
 * publish in flight when nats-server stops is gone, JetStream or not.
 */
async function publishDurably(nc: NatsConnection, station: string, bytes: Uint8Array, id: string) {
  const h = headers();
  h.set(Header.frameId, id);
  h.set(Header.capturedAt, String(Date.now()));
  for (let attempt = 0;; attempt++) {
    try {
      await jetstream(nc).publish(framesSubject(station), bytes, { msgID: id, headers: h, timeout: 2000 });
      return;
    } catch (error) {
      if (attempt >= 30) throw error;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** The victim's frame rate: enough frames around a fault for its p99 to mean something. */
const VICTIM_FPS = 5;

/** The station streaming as the victim of a fault: durably with JetStream, its missed results read back. */
function victimOf(opts: FaultOptions, jetstream: boolean): Victim {
  return new Victim({
    nc: opts.victimNc,
    station: opts.station,
    frames: opts.frames,
    fps: opts.fps ?? VICTIM_FPS,
    jetstream,
    ...(jetstream
      ? { publish: (s: string, b: Uint8Array, id: string) => publishDurably(opts.victimNc, s, b, id) }
      : {}),
  });
}

/** The fault's report: the victim's frames, both p99s (clear of the outage), what went wrong. */
function faultReport(
  attack: string,
  v: { quiet: VictimPhase; loud: VictimPhase; problems: string[] },
  peakRssBytes: number,
  jetstream: boolean,
): AttackReport {
  return {
    attack,
    sent: v.loud.sent,
    answered: v.loud.answered,
    lost: v.loud.lost,
    peakRssBytes,
    ...victimP99s(v),
    problems: jetstream && v.loud.lost
      ? [`${v.loud.lost} frames lost with JetStream`, ...v.problems]
      : v.problems,
  };
}

/** kill -9 of the running service, a fresh one started on the same state dir; returns the new one. */
export async function serviceKill(
  opts: FaultOptions,
  serve: ServeProcess,
  jetstream: boolean,
): Promise<{ report: AttackReport; serve: ServeProcess }> {
  let next = serve;
  let peak = 0;
  const v = await beside(victimOf(opts, jetstream), async () => {
    await new Promise((r) => setTimeout(r, FAULT_LEAD_S * 1000));
    const from = performance.now();
    peak = await serve.peakRss();
    await serve.kill();
    opts.log("service killed (SIGKILL); starting a fresh one");
    next = await opts.spawn();
    return [{ from, to: performance.now() }];
  }, { minSeconds: FAULT_SECONDS, settleMs: settleMs(opts, jetstream), lossExpected: !jetstream });
  return {
    serve: next,
    report: faultReport(
      `service kill -9 ${jetstream ? "with" : "without"} JetStream (${v.loud.repeats} repeats)`,
      v,
      Math.max(peak, await next.peakRss()),
      jetstream,
    ),
  };
}

/** nats-server restarted while the station streams. */
export async function serverRestart(
  opts: FaultOptions,
  serve: ServeProcess,
  jetstream: boolean,
): Promise<AttackReport> {
  const v = await beside(victimOf(opts, jetstream), async () => {
    await new Promise((r) => setTimeout(r, FAULT_LEAD_S * 1000));
    const from = performance.now();
    await opts.restartServer!();
    opts.log("nats-server restarted");
    return [{ from, to: performance.now() }];
  }, { minSeconds: FAULT_SECONDS, settleMs: settleMs(opts, jetstream), lossExpected: !jetstream });
  const counted = (await requestStatus(opts.nc)).busFaults;
  return faultReport(
    `nats-server restart ${jetstream ? "with" : "without"} JetStream (the service counted ${
      counted?.disconnects ?? "?"
    } disconnect, ${counted?.answeredWhileDisconnected ?? "?"} results sent while down)`,
    v,
    await serve.peakRss(),
    jetstream,
  );
}

/** A 16-shot enrollment of a second station while the station streams: its p99 quiet and during. */
export async function enrollmentDuringLoad(opts: FaultOptions, serve: ServeProcess): Promise<AttackReport> {
  const { nc, frames, log } = opts;
  let outcome = "";
  const v = await beside(victimOf(opts, false), async () => {
    await new Promise((r) => setTimeout(r, 2000));
    const job = requestEnrollment(nc, "teach", { shots: 16, steps: 4 }, {
      timeoutMs: 300_000,
      onAccepted: () => {
        for (let i = 0; i < 16; i++) {
          publishFrame(nc, "teach", frames[i % frames.length], `teach-${i}-${Date.now()}`);
        }
      },
    });
    const started = performance.now();
    for await (const p of job) {
      outcome = p.error ?? `${p.stage} in ${((performance.now() - started) / 1000).toFixed(0)} s`;
    }
    log(`enrollment of 16 shots during load: ${outcome}`);
  }, { quietS: 20, minSeconds: 30 });
  if (!outcome.startsWith("done")) v.problems.push(`enrollment did not complete: ${outcome}`);
  return faultReport(
    `enrollment (16 shots) during load (${opts.fps ?? VICTIM_FPS} fps)`,
    v,
    await serve.peakRss(),
    false,
  );
}

function settleMs(opts: FaultOptions, jetstream: boolean): number {
  return opts.settleMs ?? (jetstream ? 90_000 : 20_000);
}
