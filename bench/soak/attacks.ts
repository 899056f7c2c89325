/**
 * The attacks of issue 17 against a running `adp serve`, each reporting frames sent, answered and
 * lost, the service's peak RSS, and the victim station's p99 latency during the attack beside its
 * quiet p99:
 *
 * - header names nats.js refuses (spaces, non-ASCII) and lower-case `adp-frame-id`, sent raw;
 * - scan-bomb JPEGs and PNG bombs from a second station (over the cost limit, and just under it)
 *   while the victim streams;
 * - `threshold.set` racing an enrollment's save: the profile on disk must be the one in force;
 * - 5,000 invented station names: each answered as a station without a profile.
 *
 * @module
 */
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadProfile } from "../../src/adp/mod.ts";
import {
  decodeResult,
  Endpoint,
  framesSubject,
  requestEnrollment,
  type ResultMessage,
  serviceSubject,
} from "../../src/stream/mod.ts";
import { pngBomb, scanBombJpeg } from "./bombs.ts";
import { RawPublisher } from "./raw_publish.ts";
import { publishFrame, quantile, requestStatus, ResultTracker, type ServeProcess } from "./service.ts";

/** The victim's frame rate: well under what a loaded 2-core machine sustains with the tiny model. */
const VICTIM_FPS = 1;
/** Bombs a second from the hostile station. */
const BOMB_FPS = 1;

/** One attack's figures. */
export interface AttackReport {
  attack: string;
  sent: number;
  answered: number;
  lost: number;
  peakRssBytes: number;
  /** The victim station's p99 result latency (ms) before and during the attack; null when not measured. */
  quietP99: number | null;
  attackP99: number | null;
  /** Anything that went wrong besides lost frames. */
  problems: string[];
  /** Lost frames are the fault's nature here (no JetStream to keep them): counted, not a failure. */
  lostExpected?: boolean;
}

/** What the attacks need. */
export interface AttackOptions {
  nc: NatsConnection;
  natsUrl: string;
  serve: ServeProcess;
  stateDir: string;
  /** An enrolled station used as the victim. */
  victim: string;
  /** Good frames to stream and enroll from. */
  frames: Uint8Array[];
  /** Invented station names for the table attack. @default 5000 */
  stationNames?: number;
  log: (line: string) => void;
}

/** Runs every attack in turn. */
export async function runAttacks(opts: AttackOptions): Promise<AttackReport[]> {
  return [
    await headerAttack(opts),
    await bombAttack(opts),
    await thresholdRace(opts),
    await stationFlood(opts),
  ];
}

async function headerAttack(opts: AttackOptions): Promise<AttackReport> {
  const { nc, natsUrl, victim, frames } = opts;
  const tracker = new ResultTracker(nc, victim);
  await nc.flush();
  const names: [string, string][][] = [
    [["Camera Serial", "42"]],
    [["Kamera-Nr°", "7"]],
    [["X-Ünïcödé", "1"], ["Camera Serial", "2"]],
    [],
  ];
  const ids: string[] = [];
  await using raw = await RawPublisher.connect(natsUrl);
  for (let i = 0; i < 200; i++) {
    const id = `hdr-${i}`;
    ids.push(id);
    // The id in lower case, after a header nats.js refuses.
    await raw.publish(framesSubject(victim), frames[i % frames.length], [...names[i % 4], [
      "adp-frame-id",
      id,
    ]]);
    if (i % 20 === 19) await raw.flush();
  }
  await raw.flush();
  const missing = await tracker.waitAll(ids, 120_000);
  tracker.stop();
  return {
    attack: "header names (200 frames)",
    sent: ids.length,
    answered: ids.length - missing.length,
    lost: missing.length,
    peakRssBytes: await opts.serve.peakRss(),
    quietP99: null,
    attackP99: null,
    problems: [],
  };
}

/** Streams the victim at `fps` for `seconds`, returning its result latencies. */
async function stream(opts: AttackOptions, tag: string, fps: number, seconds: number): Promise<
  { ids: string[]; latencies: () => number[]; tracker: ResultTracker }
> {
  const { nc, victim, frames } = opts;
  const tracker = new ResultTracker(nc, victim);
  const ids: string[] = [];
  const n = Math.round(fps * seconds);
  for (let i = 0; i < n; i++) {
    const id = `${tag}-${i}`;
    ids.push(id);
    publishFrame(nc, victim, frames[i % frames.length], id);
    await new Promise((r) => setTimeout(r, 1000 / fps));
  }
  const latencies = () =>
    ids.map((id) => tracker.byId.get(id)?.result).filter((r): r is ResultMessage => r?.score != null)
      .map((r) => r.latencyMs);
  return { ids, latencies, tracker };
}

async function bombAttack(opts: AttackOptions): Promise<AttackReport> {
  const { nc, log } = opts;
  const bomber = "bomber";
  await enroll(nc, bomber, opts.frames);
  const quiet = await stream(opts, "quiet", VICTIM_FPS, 20);
  await quiet.tracker.waitAll(quiet.ids, 60_000);
  quiet.tracker.stop();
  const quietP99 = quantile(quiet.latencies(), 0.99);
  log(`quiet p99 of ${opts.victim}: ${quietP99.toFixed(0)} ms`);
  // Over the cost limit (refused from the header), and just under it (decoded, within the time budget).
  const bombs = [await scanBombJpeg(1024, 200), await pngBomb(7071), await scanBombJpeg(1024, 15)];
  const bombTracker = new ResultTracker(nc, bomber);
  const bombIds: string[] = [];
  let stop = false;
  const sending = (async () => {
    for (let i = 0; !stop; i++) {
      const id = `bomb-${i}`;
      bombIds.push(id);
      publishFrame(nc, bomber, bombs[i % bombs.length], id);
      await new Promise((r) => setTimeout(r, 1000 / BOMB_FPS));
    }
  })();
  const loud = await stream(opts, "loud", VICTIM_FPS, 40);
  stop = true;
  await sending;
  const missingVictim = await loud.tracker.waitAll(loud.ids, 120_000);
  const missingBombs = await bombTracker.waitAll(bombIds, 120_000);
  loud.tracker.stop();
  bombTracker.stop();
  const attackP99 = quantile(loud.latencies(), 0.99);
  const reasons: Record<string, number> = {};
  for (const t of bombTracker.byId.values()) {
    reasons[t.result.reason ?? "scored"] = (reasons[t.result.reason ?? "scored"] ?? 0) + 1;
  }
  const victimDropped = loud.ids.length - loud.latencies().length - missingVictim.length;
  log(`bombs answered: ${JSON.stringify(reasons)}; victim frames not scored: ${victimDropped}`);
  const problems = victimDropped ? [`${victimDropped} victim frames answered without a score`] : [];
  if (attackP99 > 2 * quietP99) problems.push(`victim p99 ${attackP99.toFixed(0)} ms > 2× quiet`);
  return {
    attack: `scan and PNG bombs from a second station (${BOMB_FPS}/s for 40 s; victim ${VICTIM_FPS} fps)`,
    sent: loud.ids.length + bombIds.length,
    answered: loud.ids.length + bombIds.length - missingVictim.length - missingBombs.length,
    lost: missingVictim.length + missingBombs.length,
    peakRssBytes: await opts.serve.peakRss(),
    quietP99: Math.round(quietP99),
    attackP99: Math.round(attackP99),
    problems,
  };
}

async function thresholdRace(opts: AttackOptions): Promise<AttackReport> {
  const { nc, victim, frames } = opts;
  let replies = 0, refused = 0;
  let racing = true;
  const race = (async () => {
    for (let i = 0; racing; i++) {
      const body = JSON.stringify({ station: victim, threshold: 0.5 + (i % 100) / 1000 });
      await nc.request(serviceSubject(Endpoint.thresholdSet), body, { timeout: 30_000 }).then(
        (m) => m.headers?.get("Nats-Service-Error") ? refused++ : replies++,
        () => refused++,
      );
    }
  })();
  await enroll(nc, victim, frames.slice(0, 2));
  await new Promise((r) => setTimeout(r, 500));
  racing = false;
  await race;
  const inForce = (await requestStatus(nc)).stations.find((s) => s.station === victim)?.profileVersion;
  const onDisk = (await loadProfile(join(opts.stateDir, "profiles", `${victim}.safetensors`))).meta.version;
  const problems = inForce === onDisk ? [] : [`profile v${inForce} in force, v${onDisk} on disk`];
  if (refused) problems.push(`${refused} threshold.set requests refused`);
  return {
    attack: `threshold.set racing enrollment (${replies} sets)`,
    sent: 0,
    answered: 0,
    lost: 0,
    peakRssBytes: await opts.serve.peakRss(),
    quietP99: null,
    attackP99: null,
    problems,
  };
}

async function stationFlood(opts: AttackOptions): Promise<AttackReport> {
  const { nc } = opts;
  const count = opts.stationNames ?? 5000;
  const answered = new Map<string, string>();
  const sub = nc.subscribe("adp.results.*", {
    callback: (_e, m) => {
      const r = decodeResult(m.data);
      if (r.frameId.startsWith("flood-")) answered.set(r.frameId, r.reason ?? "scored");
    },
  });
  await nc.flush();
  const frame = opts.frames[0];
  for (let i = 0; i < count; i++) {
    publishFrame(nc, `flood-${i}`, frame, `flood-${i}`);
    if (i % 100 === 99) await nc.flush();
  }
  const deadline = Date.now() + 180_000;
  while (answered.size < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  sub.unsubscribe();
  const reasons: Record<string, number> = {};
  for (const r of answered.values()) reasons[r] = (reasons[r] ?? 0) + 1;
  const problems = Object.keys(reasons).filter((r) => r !== "no-profile").map((r) =>
    `${reasons[r]} answered ${r}`
  );
  return {
    attack: `${count} station names`,
    sent: count,
    answered: answered.size,
    lost: count - answered.size,
    peakRssBytes: await opts.serve.peakRss(),
    quietP99: null,
    attackP99: null,
    problems,
  };
}

async function enroll(nc: NatsConnection, station: string, frames: Uint8Array[]): Promise<void> {
  const job = requestEnrollment(nc, station, { shots: 2, steps: 2 }, {
    onAccepted: () =>
      frames.slice(0, 2).forEach((f, i) =>
        publishFrame(nc, station, f, `${station}-enroll-${i}-${Date.now()}`)
      ),
  });
  let error: string | undefined;
  for await (const p of job) error = p.error;
  if (error) throw new Error(`Enrollment of ${station} failed: ${error}`);
}
