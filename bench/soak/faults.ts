/**
 * Fault attacks of issue 17 against `adp serve` children, each with the figures of the attack table
 * (frames sent, answered, lost, peak RSS, the other station's p99 beside its quiet p99):
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
import { framesSubject, Header } from "../../src/stream/mod.ts";
import { requestEnrollment, type ResultMessage } from "../../src/stream/mod.ts";
import type { AttackReport } from "./attacks.ts";
import { publishFrame, quantile, requestStatus, ResultTracker, type ServeProcess } from "./service.ts";

/** What the fault attacks need. */
export interface FaultOptions {
  /** A client connection (it reconnects across a server restart). */
  nc: NatsConnection;
  /** Starts a fresh `adp serve` on the attack's state dir (JetStream or not, as the attack is run). */
  spawn: () => Promise<ServeProcess>;
  /** Restarts nats-server on the same port and store. */
  restartServer?: () => Promise<void>;
  /** An enrolled station streaming through the attack. */
  station: string;
  /** Good frames to stream and enroll from. */
  frames: Uint8Array[];
  /** Frames a second the station streams. @default 2 */
  fps?: number;
  /** How long to wait for the last answers (a redelivery waits for the ack wait). @default 90 s with JetStream, else 20 s */
  settleMs?: number;
  log: (line: string) => void;
}

/** The station's frames streamed while `during` runs (started after `leadS` seconds), and their answers. */
async function streamAround(
  opts: FaultOptions,
  tag: string,
  seconds: number,
  leadS: number,
  during: () => Promise<void>,
  jetstream = false,
): Promise<{ ids: string[]; tracker: ResultTracker; scoredLatencies: () => number[] }> {
  const { nc, station, frames } = opts;
  const sending: Promise<void>[] = [];
  const fps = opts.fps ?? 2;
  const tracker = new ResultTracker(nc, station);
  await nc.flush();
  const ids: string[] = [];
  let fault: Promise<void> | undefined;
  const n = Math.round(fps * seconds);
  for (let i = 0; i < n; i++) {
    if (i === Math.round(fps * leadS)) fault = during();
    const id = `${tag}-${i}`;
    ids.push(id);
    if (jetstream) sending.push(publishDurably(nc, station, frames[i % frames.length], id));
    else publishFrame(nc, station, frames[i % frames.length], id);
    await new Promise((r) => setTimeout(r, 1000 / fps));
  }
  await fault;
  await Promise.all(sending);
  const scoredLatencies = () =>
    ids.map((id) => tracker.byId.get(id)?.result).filter((r): r is ResultMessage => r?.score != null)
      .map((r) => r.latencyMs);
  return { ids, tracker, scoredLatencies };
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

/**
 * The ids without an answer once the stream settles. With JetStream the answers the subscription
 * missed while the bus was down are read from the result stream, as a PLC's durable consumer would.
 */
async function answersOf(
  opts: FaultOptions,
  s: { ids: string[]; tracker: ResultTracker },
  jetstream: boolean,
): Promise<string[]> {
  let missing = await s.tracker.waitAll(s.ids, opts.settleMs ?? (jetstream ? 90_000 : 20_000));
  s.tracker.stop();
  if (jetstream && missing.length) {
    const added = await s.tracker.fillFromStream(opts.nc);
    opts.log(`${added} results the subscription missed read from the result stream`);
    missing = missing.filter((id) => !s.tracker.byId.has(id));
  }
  return missing;
}

/** kill -9 of the running service, a fresh one started on the same state dir; returns the new one. */
export async function serviceKill(
  opts: FaultOptions,
  serve: ServeProcess,
  jetstream: boolean,
): Promise<{ report: AttackReport; serve: ServeProcess }> {
  let next = serve;
  let peak = 0;
  const s = await streamAround(opts, jetstream ? "kill-js" : "kill", 20, 5, async () => {
    peak = await serve.peakRss();
    await serve.kill();
    opts.log("service killed (SIGKILL); starting a fresh one");
    next = await opts.spawn();
  }, jetstream);
  const missing = await answersOf(opts, s, jetstream);
  const problems: string[] = [];
  if (jetstream && missing.length) problems.push(`${missing.length} frames lost with JetStream`);
  return {
    serve: next,
    report: {
      attack: `service kill -9 ${jetstream ? "with" : "without"} JetStream (${s.tracker.duplicates} repeats)`,
      sent: s.ids.length,
      answered: s.ids.length - missing.length,
      lost: missing.length,
      peakRssBytes: Math.max(peak, await next.peakRss()),
      quietP99: null,
      attackP99: null,
      problems,
    },
  };
}

/** nats-server restarted while the station streams. */
export async function serverRestart(
  opts: FaultOptions,
  serve: ServeProcess,
  jetstream: boolean,
): Promise<AttackReport> {
  const s = await streamAround(opts, jetstream ? "restart-js" : "restart", 20, 5, async () => {
    await opts.restartServer!();
    opts.log("nats-server restarted");
  }, jetstream);
  const missing = await answersOf(opts, s, jetstream);
  const problems: string[] = [];
  if (jetstream && missing.length) problems.push(`${missing.length} frames lost with JetStream`);
  const counted = (await requestStatus(opts.nc)).busFaults;
  return {
    attack: `nats-server restart ${jetstream ? "with" : "without"} JetStream (the service counted ${
      counted?.disconnects ?? "?"
    } disconnect, ${counted?.answeredWhileDisconnected ?? "?"} results sent while down)`,
    sent: s.ids.length,
    answered: s.ids.length - missing.length,
    lost: missing.length,
    peakRssBytes: await serve.peakRss(),
    quietP99: null,
    attackP99: null,
    problems,
  };
}

/** A 16-shot enrollment of a second station while the station streams: its p99 quiet and during. */
export async function enrollmentDuringLoad(opts: FaultOptions, serve: ServeProcess): Promise<AttackReport> {
  const { nc, frames, log } = opts;
  const quiet = await streamAround(opts, "calm", 20, 0, () => Promise.resolve());
  const missingQuiet = await quiet.tracker.waitAll(quiet.ids, 60_000);
  quiet.tracker.stop();
  const quietP99 = quantile(quiet.scoredLatencies(), 0.99);
  let outcome = "";
  const loud = await streamAround(opts, "busy", 30, 2, async () => {
    const job = requestEnrollment(nc, "teach", { shots: 16, steps: 4 }, {
      timeoutMs: 300_000,
      onAccepted: () => {
        for (let i = 0; i < 16; i++) publishFrame(nc, "teach", frames[i % frames.length], `teach-${i}`);
      },
    });
    const started = performance.now();
    for await (const p of job) {
      outcome = p.error ?? `${p.stage} in ${((performance.now() - started) / 1000).toFixed(0)} s`;
    }
    log(`enrollment of 16 shots during load: ${outcome}`);
  });
  const missing = await loud.tracker.waitAll(loud.ids, 60_000);
  loud.tracker.stop();
  const attackP99 = quantile(loud.scoredLatencies(), 0.99);
  const problems: string[] = [];
  if (!outcome.startsWith("done")) problems.push(`enrollment did not complete: ${outcome}`);
  if (attackP99 > 2 * quietP99) problems.push(`p99 ${attackP99.toFixed(0)} ms > 2× quiet`);
  const unscored = loud.ids.length - missing.length - loud.scoredLatencies().length;
  if (unscored) problems.push(`${unscored} frames answered without a score`);
  return {
    attack: `enrollment (16 shots) during load (${opts.fps ?? 2} fps)`,
    sent: quiet.ids.length + loud.ids.length,
    answered: quiet.ids.length + loud.ids.length - missingQuiet.length - missing.length,
    lost: missingQuiet.length + missing.length,
    peakRssBytes: await serve.peakRss(),
    quietP99: Math.round(quietP99),
    attackP99: Math.round(attackP99),
    problems,
  };
}
