/**
 * The attacks of issue 17 against a running `adp serve`, each from a hostile station (or names)
 * while a victim station streams (victim.ts), each reporting frames sent, answered and lost (the
 * attack's and the victim's), the service's peak RSS, and the victim's p99 latency during the attack
 * beside its quiet p99 just before:
 *
 * - header names nats.js refuses (spaces, non-ASCII) and lower-case `adp-frame-id`, sent raw;
 * - scan-bomb JPEGs and PNG bombs (over the cost limit, and just under it);
 * - `threshold.set` racing an enrollment's save: the profile on disk must be the one in force;
 * - 5,000 invented station names: each answered as a station without a profile;
 * - and a control that is not an attack on the service: full frames at line rate to a plain
 *   subscriber, what the co-located attacker and the bus alone do to the victim on this machine.
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
  serviceSubject,
} from "../../src/stream/mod.ts";
import { pngBomb, scanBombJpeg } from "./bombs.ts";
import { RawPublisher } from "./raw_publish.ts";
import { publishFrame, requestStatus, ResultTracker, type ServeProcess } from "./service.ts";
import { beside, Victim, victimP99s, type VictimPhase } from "./victim.ts";

/**
 * The victim's frame rate: well under what a loaded 2-core machine sustains with the tiny model,
 * and enough frames that a p99 is not just the slowest of a few dozen.
 */
const VICTIM_FPS = 10;
/** Each attack lasts at least this long for the victim (a burst may be over in a second or two). */
const ATTACK_MIN_SECONDS = 30;
/** The victim's warm-up before the first quiet phase: the decoders' wasm tiers up after its first frames. */
const WARM_UP_SECONDS = 10;
/**
 * Frames a second of the hostile camera with odd header names: a fast camera. Sent at line rate
 * (107 MB in under a second) the frames would measure the bus on this 2-core box, not the service:
 * see {@linkcode busControl}, where such a flood never reaches the service.
 */
const HEADER_FPS = 20;
/** Invented station names a second: a scripted attacker, paced for the same reason as HEADER_FPS. */
const NAMES_PER_SECOND = 500;
/** Full frames the bus control sends at line rate. */
const CONTROL_FRAMES = 5000;
/** Bombs a second from the hostile station, and for how long. */
const BOMB_FPS = 1;
const BOMB_SECONDS = 40;
/** The station the hostile frames come from (enrolled, so its frames are scored when they can be). */
const HOSTILE = "hostile";

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
  /** The service's part of those p99s (the results' `latencyMs`). */
  quietServiceP99: number | null;
  attackServiceP99: number | null;
  /** Anything that went wrong besides lost frames. */
  problems: string[];
  /** Lost frames are the fault's nature here (no JetStream to keep them): counted, not a failure. */
  lostExpected?: boolean;
  /** A measurement of the box, not of the service: its victim p99 is shown, never a failure. */
  control?: boolean;
}

/** What the attacks need. */
export interface AttackOptions {
  /** The attacker's connection (hostile frames, requests). */
  nc: NatsConnection;
  /** The victim camera's own connection. */
  victimNc: NatsConnection;
  natsUrl: string;
  serve: ServeProcess;
  stateDir: string;
  /** An enrolled station used as the victim. */
  victim: string;
  /** Good frames to stream and enroll from. */
  frames: Uint8Array[];
  /** A small valid frame (the station-name flood's). */
  smallFrame: Uint8Array;
  /** Invented station names for the table attack. @default 5000 */
  stationNames?: number;
  log: (line: string) => void;
}

/** Runs every attack in turn, a victim station streaming beside each. */
export async function runAttacks(opts: AttackOptions): Promise<AttackReport[]> {
  const victim = new Victim({
    nc: opts.victimNc,
    station: opts.victim,
    frames: opts.frames,
    fps: VICTIM_FPS,
  });
  await enroll(opts.nc, HOSTILE, opts.frames);
  await victim.quiet(WARM_UP_SECONDS);
  return [
    await headerAttack(opts, victim),
    await bombAttack(opts, victim),
    await thresholdRace(opts, victim),
    await stationFlood(opts, victim),
    await busControl(opts, victim),
  ];
}

/** An attack's frames and the victim's, both p99s and every problem, as a row of the table. */
async function report(
  opts: AttackOptions,
  attack: string,
  own: { sent: number; answered: number; problems?: string[] },
  v: { quiet: VictimPhase; loud: VictimPhase; problems: string[] },
): Promise<AttackReport> {
  return {
    attack,
    sent: own.sent + v.loud.sent,
    answered: own.answered + v.loud.answered,
    lost: own.sent - own.answered + v.loud.lost,
    peakRssBytes: await opts.serve.peakRss(),
    ...victimP99s(v),
    problems: [...own.problems ?? [], ...v.problems],
  };
}

async function headerAttack(opts: AttackOptions, victim: Victim): Promise<AttackReport> {
  const { nc, natsUrl, frames } = opts;
  const names: [string, string][][] = [
    [["Camera Serial", "42"]],
    [["Kamera-Nr°", "7"]],
    [["X-Ünïcödé", "1"], ["Camera Serial", "2"]],
    [],
  ];
  const ids: string[] = [];
  let missing: string[] = [];
  const v = await beside(victim, async () => {
    const tracker = new ResultTracker(nc, HOSTILE);
    await nc.flush();
    await using raw = await RawPublisher.connect(natsUrl);
    for (let i = 0; i < 200; i++) {
      const id = `hdr-${i}`;
      ids.push(id);
      // The id in lower case, after a header nats.js refuses.
      await raw.publish(framesSubject(HOSTILE), frames[i % frames.length], [...names[i % 4], [
        "adp-frame-id",
        id,
      ]]);
      await raw.flush();
      await new Promise((r) => setTimeout(r, 1000 / HEADER_FPS));
    }
    await raw.flush();
    missing = await tracker.waitAll(ids, 120_000);
    tracker.stop();
  }, { minSeconds: ATTACK_MIN_SECONDS });
  return await report(opts, `header names (200 frames, ${HEADER_FPS}/s)`, {
    sent: ids.length,
    answered: ids.length - missing.length,
  }, v);
}

async function bombAttack(opts: AttackOptions, victim: Victim): Promise<AttackReport> {
  const { nc, log } = opts;
  // Over the cost limit (refused from the header), and just under it (decoded, within the time budget).
  const bombs = [await scanBombJpeg(1024, 200), await pngBomb(7071), await scanBombJpeg(1024, 15)];
  const bombTracker = new ResultTracker(nc, HOSTILE);
  const bombIds: string[] = [];
  const v = await beside(victim, async () => {
    for (let i = 0; i < BOMB_SECONDS * BOMB_FPS; i++) {
      const id = `bomb-${i}`;
      bombIds.push(id);
      publishFrame(nc, HOSTILE, bombs[i % bombs.length], id);
      await new Promise((r) => setTimeout(r, 1000 / BOMB_FPS));
    }
  }, { minSeconds: ATTACK_MIN_SECONDS });
  const missingBombs = await bombTracker.waitAll(bombIds, 120_000);
  bombTracker.stop();
  const reasons: Record<string, number> = {};
  for (const t of bombTracker.byId.values()) {
    reasons[t.result.reason ?? "scored"] = (reasons[t.result.reason ?? "scored"] ?? 0) + 1;
  }
  log(`bombs answered: ${JSON.stringify(reasons)}`);
  return await report(
    opts,
    `scan and PNG bombs from a second station (${BOMB_FPS}/s for ${BOMB_SECONDS} s)`,
    { sent: bombIds.length, answered: bombIds.length - missingBombs.length },
    v,
  );
}

async function thresholdRace(opts: AttackOptions, victim: Victim): Promise<AttackReport> {
  const { nc, frames } = opts;
  let replies = 0, refused = 0;
  const problems: string[] = [];
  const v = await beside(victim, async () => {
    let racing = true;
    const race = (async () => {
      for (let i = 0; racing; i++) {
        const body = JSON.stringify({ station: HOSTILE, threshold: 0.5 + (i % 100) / 1000 });
        await nc.request(serviceSubject(Endpoint.thresholdSet), body, { timeout: 30_000 }).then(
          (m) => m.headers?.get("Nats-Service-Error") ? refused++ : replies++,
          () => refused++,
        );
      }
    })();
    await enroll(nc, HOSTILE, frames.slice(0, 2));
    await new Promise((r) => setTimeout(r, 500));
    racing = false;
    await race;
  }, { minSeconds: ATTACK_MIN_SECONDS });
  const inForce = (await requestStatus(nc)).stations.find((s) => s.station === HOSTILE)?.profileVersion;
  const onDisk = (await loadProfile(join(opts.stateDir, "profiles", `${HOSTILE}.safetensors`))).meta.version;
  if (inForce !== onDisk) problems.push(`profile v${inForce} in force, v${onDisk} on disk`);
  if (refused) problems.push(`${refused} threshold.set requests refused`);
  return await report(opts, `threshold.set racing enrollment (${replies} sets)`, {
    sent: 0,
    answered: 0,
    problems,
  }, v);
}

async function stationFlood(opts: AttackOptions, victim: Victim): Promise<AttackReport> {
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
  // The attack is the names: a small valid frame each, so that it tests the station table, not the
  // bus's bandwidth (5,000 full frames are 2.7 GB; see HEADER_FPS).
  const frame = opts.smallFrame;
  const started = performance.now();
  const v = await beside(victim, async () => {
    for (let i = 0; i < count; i++) {
      publishFrame(nc, `flood-${i}`, frame, `flood-${i}`);
      if (i % 50 === 49) {
        await nc.flush();
        await new Promise((r) => setTimeout(r, 50_000 / NAMES_PER_SECOND));
      }
    }
    const deadline = Date.now() + 180_000;
    while (answered.size < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }, { minSeconds: ATTACK_MIN_SECONDS });
  opts.log(
    `${answered.size} of ${count} station names answered in ${Math.round(performance.now() - started)} ms`,
  );
  sub.unsubscribe();
  const reasons: Record<string, number> = {};
  for (const r of answered.values()) reasons[r] = (reasons[r] ?? 0) + 1;
  const problems = Object.keys(reasons).filter((r) => r !== "no-profile").map((r) =>
    `${reasons[r]} answered ${r}`
  );
  return await report(
    opts,
    `${count} station names (${NAMES_PER_SECOND}/s)`,
    { sent: count, answered: answered.size, problems },
    v,
  );
}

/**
 * The control: full frames at line rate to a plain subscriber in another process, never to the
 * service. The victim's p99 beside it is what the co-located attacker and the bus alone cost on
 * this machine; an attack's row is read against it.
 */
async function busControl(opts: AttackOptions, victim: Victim): Promise<AttackReport> {
  const { nc, natsUrl, frames } = opts;
  const sink = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_sink.ts", import.meta.url).pathname, natsUrl],
    stdout: "piped",
  }).spawn();
  const lines = sink.stdout.pipeThrough(new TextDecoderStream()).getReader();
  await lines.read(); // "ready"
  let taken = 0;
  try {
    const v = await beside(victim, async () => {
      for (let i = 0; i < CONTROL_FRAMES; i++) {
        nc.publish(`soak.flood.${i % 100}`, frames[i % frames.length]);
        if (i % 100 === 99) await nc.flush();
      }
      const deadline = Date.now() + 120_000;
      while (taken < CONTROL_FRAMES && Date.now() < deadline) {
        taken = Number((await nc.request("soak.sink.count", "", { timeout: 5000 })).string());
        await new Promise((r) => setTimeout(r, 200));
      }
    }, { minSeconds: ATTACK_MIN_SECONDS });
    return {
      ...await report(
        opts,
        `control: ${CONTROL_FRAMES} full frames at line rate to a plain subscriber, not the service`,
        { sent: CONTROL_FRAMES, answered: taken },
        { ...v, problems: [] },
      ),
      control: true,
    };
  } finally {
    sink.kill();
    await sink.status;
    lines.releaseLock();
  }
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
