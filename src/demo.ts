/**
 * `deno task demo`: the edge service end to end on one machine, on real images.
 *
 * 1. NATS: uses the server at `$NATS_URL` (default `nats://127.0.0.1:4222`) when one answers and no
 *    other `adp` service is on it; otherwise starts a private `nats-server` on a free loopback port
 *    (JetStream on, its store in a temporary folder) and stops it at the end.
 * 2. A model: `$ADP_MODEL_DIR` when set, else a randomly initialised tiny CLIP written once to
 *    `models/demo-tiny` with the real BPE vocabulary from `../shared`. Its scores mean nothing; they
 *    only show the pipeline working. The patch branch uses `$ADP_BACKBONE` when set, else the
 *    pretrained proxy backbone of `../shared/models/proxy` when it is there (real patch features:
 *    the verdicts then mean something even with the random CLIP), else CLIP's own tokens.
 * 3. The service (`startProcessor`, what `adp serve` runs) in this process, on a temporary state dir.
 * 4. Enrollment as `adp enroll` does it: a request on `adp.enroll.<station>` for K = 4 shots, progress
 *    followed live on `adp.enroll.<station>.progress`, while a simulated camera publishes the first
 *    four MVTec-AD bottle `train/good` frames on `adp.frames.<station>`.
 * 5. The camera then streams 20 frames (`test/good` mixed with `test/<defect>`); every result and
 *    anomaly event is printed as it arrives, then a summary.
 * 6. Everything stops cleanly (also on Ctrl-C): camera, service (drained), connections, the private
 *    server, temporary folders. Heat maps of anomalous frames are kept in `out/demo/heatmaps`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { basename, join, relative } from "node:path";
import { existsSync } from "node:fs";
import { copyFile, readdir } from "node:fs/promises";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { writeRandomCheckpoint } from "./clip/mod.ts";
import { type ClipModel, loadClip } from "./model/mod.ts";
import { type Device, DEVICES } from "./onnx/mod.ts";
import { renderProgressBar } from "./progress_bar.ts";
import {
  anomaliesSubject,
  type AnomalyMessage,
  decodeAnomaly,
  decodeEnrollProgress,
  decodeEnrollReply,
  decodeResult,
  encodeMessage,
  enrollProgressSubject,
  type EnrollRequest,
  enrollSubject,
  framesSubject,
  Header,
  type NatsServerProcess,
  type Processor,
  type ResultMessage,
  resultsSubject,
  SERVICE_NAME,
  startNatsServer,
  startProcessor,
} from "./stream/mod.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SHARED = join(ROOT, "..", "shared");
const PROXY_BACKBONE = join(SHARED, "models/proxy/backbone.json");
const VOCAB_NAME = "bpe_simple_vocab_16e6.txt.gz";
const VOCAB = join(SHARED, "fixtures/clip-oracle/tokenizer", VOCAB_NAME);
const BOTTLE = join(SHARED, "datasets/mvtec-ad/bottle");
const TINY_DIR = join(ROOT, "models", "demo-tiny");
const HEATMAP_OUT = join(ROOT, "out", "demo", "heatmaps");

const STATION = "demo-bottle";
const SHOTS = 4;
/** Concept-learning steps for the tiny model; a configured model gets the service's default. */
const TINY_STEPS = 10;
const DEFECTS = ["broken_large", "broken_small", "contamination"];
const GOOD_FRAMES = 8;
const DEFECT_FRAMES_EACH = 4;
/** The camera's rate: the tiny model keeps up with it on any CPU. */
const TINY_FPS = 8;
/** A real checkpoint on a CPU scores a few frames a second: slow enough that its queue never overflows. */
const MODEL_FPS = 2;
/** A frame bigger than this needs a server whose max_payload fits it: the private one allows 8 MiB. */
const PRIVATE_MAX_PAYLOAD = 8 * 1024 * 1024;

/** Raised when the user interrupts the demo (Ctrl-C). */
class Interrupted extends Error {
  constructor() {
    super("Interrupted");
    this.name = "Interrupted";
  }
}

/** How the demo runs for the model it has: the tiny one fast, a real one within what a CPU manages. */
interface Pace {
  /** Concept-learning steps of the enrollment request; absent: the service's default. */
  steps?: number;
  /** The camera's frames per second. */
  fps: number;
  enrollTimeoutMs: number;
  resultsTimeoutMs: number;
}

/** One replayed image. */
interface DemoFrame {
  /** Path under the bottle folder, e.g. `test/broken_large/000.png`. */
  source: string;
  bytes: Uint8Array;
  defective: boolean;
}

/** Resources to release at the end, last acquired first; each step is bounded in time. */
class Cleanup {
  readonly #steps: { what: string; fn: () => Promise<unknown> | unknown }[] = [];

  defer(what: string, fn: () => Promise<unknown> | unknown): void {
    this.#steps.push({ what, fn });
  }

  async run(): Promise<void> {
    while (this.#steps.length) {
      const { what, fn } = this.#steps.pop()!;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(fn),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error("Timed out after 15 s")), 15_000);
          }),
        ]);
      } catch (error) {
        console.error(`warning: ${what} failed: ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

const interrupt = new AbortController();

/** `p`, or an {@linkcode Interrupted} rejection as soon as the user presses Ctrl-C. */
function unlessInterrupted<T>(p: Promise<T>): Promise<T> {
  if (interrupt.signal.aborted) return Promise.reject(new Interrupted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Interrupted());
    interrupt.signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => interrupt.signal.removeEventListener("abort", onAbort));
  });
}

function sleep(ms: number): Promise<void> {
  return unlessInterrupted(new Promise((r) => setTimeout(r, ms)));
}

/** Whether a progress bar is being redrawn on the terminal's last line (a new line must end it first). */
let barOpen = false;

function say(line?: string): void {
  if (barOpen) {
    barOpen = false;
    console.log();
    if (line === undefined) return;
  }
  console.log(line ?? "");
}

/** Redraws the progress bar line; `keep` ends the previous one first, so a finished stage stays. */
function drawBar(line: string, keep: boolean): void {
  const text = `${keep && barOpen ? "\n" : ""}\r\x1b[2K${line}`;
  Deno.stdout.writeSync(new TextEncoder().encode(text));
  barOpen = true;
}

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns || 100;
  } catch {
    return 100;
  }
}

// ---------------------------------------------------------------------------------------------
// NATS

/** A connection the demo made, and the private server behind it if the demo started one. */
interface Bus {
  url: string;
  /** The private server, when the demo started it. */
  server?: NatsServerProcess;
}

/** `NATS_URL` may list several servers, comma-separated. */
function servers(url: string): string[] {
  return url.split(",").map((s) => s.trim()).filter(Boolean);
}

async function tryConnect(url: string): Promise<NatsConnection | Error> {
  try {
    return await connect({ servers: servers(url), name: "adp demo probe", timeout: 2000, reconnect: false });
  } catch (error) {
    return error as Error;
  }
}

/** Drains a connection (what it published reaches the server); closes it if that takes over 5 s. */
async function closeConnection(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), 5000));
  const outcome = await Promise.race([nc.drain().catch(() => "failed" as const), timeout]);
  clearTimeout(timer);
  if (outcome !== undefined && !nc.isClosed()) await nc.close().catch(() => {});
}

/** Whether an `adp` service already answers on this bus (it would take the demo's frames too). */
async function otherServiceAnswers(nc: NatsConnection): Promise<boolean> {
  try {
    await nc.request(`$SRV.PING.${SERVICE_NAME}`, undefined, { timeout: 500 });
    return true;
  } catch {
    return false;
  }
}

/** The private server and the temporary folder while they exist, for a second Ctrl-C that quits at once. */
let privateServer: NatsServerProcess | undefined;
let tempDirOfRun: string | undefined;

/** Starts a private nats-server (JetStream on, store in `dir`) and waits until it listens. */
async function startPrivateServer(dir: string, cleanup: Cleanup): Promise<Bus> {
  let server;
  try {
    server = await startNatsServer({ dir, maxPayload: PRIVATE_MAX_PAYLOAD, detached: true });
  } catch (error) {
    throw new Error(
      `No NATS server answers and a private one cannot start: ${(error as Error).message}; ` +
        "or point NATS_URL at a running server",
      { cause: error },
    );
  }
  privateServer = server;
  cleanup.defer("stopping nats-server", async () => {
    privateServer = undefined;
    await server.stop();
    say(`stopped nats-server (pid ${server.pid})`);
  });
  return { url: server.url, server };
}

/** The bus the demo uses: a server that answers at NATS_URL if suitable, else a private one. */
async function ensureBus(tempDir: string, cleanup: Cleanup, largestFrame: number): Promise<Bus> {
  const url = Deno.env.get("NATS_URL") ?? "nats://127.0.0.1:4222";
  const probe = await tryConnect(url);
  let why: string;
  if (probe instanceof Error) {
    why = `cannot use ${url} (${probe.message})`;
  } else {
    const maxPayload = probe.info?.max_payload ?? 0;
    const busy = await otherServiceAnswers(probe);
    await probe.close();
    if (busy) {
      why = `an adp service already runs on ${url} and would take the demo's frames too`;
    } else if (maxPayload < largestFrame) {
      why =
        `the server at ${url} refuses messages over ${maxPayload} bytes, frames have up to ${largestFrame}`;
    } else {
      say(`nats: using the server at ${url}`);
      return { url };
    }
  }
  const bus = await startPrivateServer(tempDir, cleanup);
  say(`nats: ${why}; started nats-server (pid ${bus.server!.pid}) at ${bus.url}, JetStream on`);
  return bus;
}

// ---------------------------------------------------------------------------------------------
// Model and images

/** The patch backbone for enrollment: `$ADP_BACKBONE`, else the proxy from ../shared, else none (CLIP's tokens). */
function chooseBackbone(): string | undefined {
  const configured = Deno.env.get("ADP_BACKBONE");
  if (configured) {
    say(`patch backbone: ${configured} (ADP_BACKBONE)`);
    return configured;
  }
  if (existsSync(PROXY_BACKBONE)) {
    say(
      `patch backbone: the pretrained proxy (${
        relative(Deno.cwd(), PROXY_BACKBONE)
      }), so patch verdicts are real`,
    );
    return PROXY_BACKBONE;
  }
  say("patch backbone: none found, CLIP's own patch tokens (set ADP_BACKBONE to a backbone JSON)");
  return undefined;
}

/** The configured checkpoint, or the tiny random one (written once, atomically). */
async function ensureModel(): Promise<{ dir: string; tiny: boolean }> {
  const configured = Deno.env.get("ADP_MODEL_DIR");
  if (configured) {
    say(`model: ${configured} (ADP_MODEL_DIR)`);
    return { dir: configured, tiny: false };
  }
  if (!existsSync(join(TINY_DIR, "open_clip_model.safetensors")) || !existsSync(join(TINY_DIR, VOCAB_NAME))) {
    if (!existsSync(VOCAB)) {
      throw new Error(
        `No tokenizer vocabulary at ${VOCAB}: place ../shared beside the checkout, or set ADP_MODEL_DIR ` +
          "to a pulled checkpoint (deno task adp models pull ViT-B-16:openai)",
      );
    }
    // Written beside and renamed into place, so an interrupted write never leaves a half model.
    const tmp = `${TINY_DIR}.tmp-${Deno.pid}`;
    try {
      await writeRandomCheckpoint(tmp, { arch: "tiny", layout: "openclip", seed: 0 });
      await copyFile(VOCAB, join(tmp, VOCAB_NAME));
      await Deno.remove(TINY_DIR, { recursive: true }).catch(() => {});
      await Deno.rename(tmp, TINY_DIR);
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  }
  say(
    `model: no ADP_MODEL_DIR set, so a randomly initialised tiny CLIP (${relative(Deno.cwd(), TINY_DIR)}) ` +
      "stands in.\n       Its scores are NOT meaningful: they only show the pipeline working. For real " +
      "verdicts pull weights\n       (deno task adp models pull ViT-B-16:openai) and set ADP_MODEL_DIR.",
  );
  return { dir: TINY_DIR, tiny: true };
}

/** `$ADP_DEVICE` when set; else the CPU for the tiny model (nothing to gain elsewhere), `auto` for a real one. */
function deviceFor(tiny: boolean): Device {
  const configured = Deno.env.get("ADP_DEVICE");
  if (configured === undefined) return tiny ? "cpu" : "auto";
  if (!(DEVICES as readonly string[]).includes(configured)) {
    throw new Error(`ADP_DEVICE must be one of ${DEVICES.join(", ")}: got ${JSON.stringify(configured)}`);
  }
  return configured as Device;
}

async function readFrames(sub: string, n: number, defective: boolean): Promise<DemoFrame[]> {
  const names = (await readdir(join(BOTTLE, sub))).filter((f) => f.endsWith(".png")).sort().slice(0, n);
  return await Promise.all(names.map(async (name) => ({
    source: `${sub}/${name}`,
    bytes: await Deno.readFile(join(BOTTLE, sub, name)),
    defective,
  })));
}

/** K enrollment frames, then good and defective test frames interleaved. */
async function demoFrames(): Promise<{ enroll: DemoFrame[]; stream: DemoFrame[] }> {
  if (!existsSync(BOTTLE)) {
    throw new Error(`No demo images: ${BOTTLE} is absent (place ../shared beside the checkout)`);
  }
  const enroll = await readFrames("train/good", SHOTS, false);
  const good = await readFrames("test/good", GOOD_FRAMES, false);
  const defects = await Promise.all(DEFECTS.map((d) => readFrames(`test/${d}`, DEFECT_FRAMES_EACH, true)));
  // Round-robin over the defect kinds, a good frame between defective ones while good ones last.
  const bad: DemoFrame[] = [];
  for (let i = 0; i < DEFECT_FRAMES_EACH; i++) for (const kind of defects) if (kind[i]) bad.push(kind[i]);
  const stream: DemoFrame[] = [];
  while (good.length || bad.length) {
    if (good.length) stream.push(good.shift()!);
    if (bad.length) stream.push(bad.shift()!);
    if (bad.length && good.length < bad.length) stream.push(bad.shift()!);
  }
  return { enroll, stream };
}

// ---------------------------------------------------------------------------------------------
// Camera, enrollment, events

/** A simulated camera: publishes frames on adp.frames.<station> at `fps`, with id and capture time headers. */
async function publishFrames(
  nc: NatsConnection,
  frames: { id: string; frame: DemoFrame }[],
  fps: number,
): Promise<void> {
  const started = performance.now();
  for (const [i, { id, frame }] of frames.entries()) {
    const wait = started + (i * 1000) / fps - performance.now();
    if (wait > 0) await sleep(wait);
    const h = headers();
    h.set(Header.frameId, id);
    h.set(Header.capturedAt, new Date().toISOString());
    nc.publish(framesSubject(STATION), frame.bytes, { headers: h });
  }
  await nc.flush();
}

/** Requests enrollment, feeds the camera's next K frames, and prints progress until the job ends. */
async function enrollStation(
  client: NatsConnection,
  camera: NatsConnection,
  frames: DemoFrame[],
  pace: Pace,
): Promise<number> {
  const request: EnrollRequest = {
    shots: SHOTS,
    seed: 0,
    label: "bottle",
    ...(pace.steps ? { steps: pace.steps } : {}),
  };
  say(
    `\nenrollment: request on ${enrollSubject(STATION)} ${JSON.stringify(request)}; progress on ${
      enrollProgressSubject(STATION)
    }`,
  );
  // Subscribed before asking, so that no progress message is missed.
  const progress = client.subscribe(enrollProgressSubject(STATION));
  try {
    const reply = decodeEnrollReply(
      (await unlessInterrupted(
        client.request(enrollSubject(STATION), encodeMessage(request), { timeout: 10_000 }),
      ))
        .data,
    );
    if (!reply.ok) throw new Error(`Enrollment refused (${reply.code}): ${reply.error}`);
    say(`  job ${reply.jobId} accepted: the service takes the next ${reply.shots} frames of ${STATION}`);
    const camera$ = publishFrames(
      camera,
      frames.map((frame, i) => ({ id: `enroll-${i}`, frame })),
      pace.fps,
    );
    const terminal = Deno.stdout.isTerminal();
    const started = performance.now();
    let lastStage = "";
    const outcome = (async () => {
      for await (const msg of progress) {
        const p = decodeEnrollProgress(msg.data);
        if (p.jobId !== reply.jobId) continue;
        const t = `${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s`;
        const line = `  ${t}  ` + renderProgressBar({
          label: `${p.stage}${p.message ? `: ${p.message}` : ""}`,
          fraction: p.percent / 100,
          width: terminal ? Math.max(40, Math.min(110, terminalColumns()) - 10) : 100,
        });
        if (terminal) {
          drawBar(line, p.stage !== lastStage);
        } else if (p.stage !== lastStage || p.done || p.stage === "collecting") {
          say(line);
        }
        lastStage = p.stage;
        if (!p.done) continue;
        if (terminal) say();
        if (p.error !== undefined) throw new Error(`Enrollment failed: ${p.error}`);
        return p.profileVersion!;
      }
      throw new Error("The progress subscription ended before the job did");
    })();
    const timer = setTimeout(() => progress.unsubscribe(), pace.enrollTimeoutMs);
    try {
      const [version] = await unlessInterrupted(Promise.all([outcome, camera$]));
      say(
        `  enrollment done: profile v${version} of ${STATION} in force after ${
          ((performance.now() - started) / 1000).toFixed(1)
        } s`,
      );
      return version;
    } finally {
      clearTimeout(timer);
    }
  } finally {
    if (!progress.isClosed()) progress.unsubscribe();
  }
}

function fixed(v: number | null, digits = 3): string {
  return v === null ? "-" : v.toFixed(digits);
}

interface Tally {
  results: Map<string, ResultMessage>;
  anomalies: Map<string, AnomalyMessage>;
}

/** Follows results and anomaly events of the station, printing each as it arrives. */
function followEvents(
  nc: NatsConnection,
  stateDir: string,
  frameOf: Map<string, { n: number; frame: DemoFrame }>,
  total: number,
): { tally: Tally; changed: EventTarget } {
  const tally: Tally = { results: new Map(), anomalies: new Map() };
  const changed = new EventTarget();
  const label = (id: string) => {
    const f = frameOf.get(id);
    return f ? `${String(f.n).padStart(2)}/${total}  ${f.frame.source.padEnd(28)}` : `      ${id.padEnd(28)}`;
  };
  nc.subscribe(resultsSubject(STATION), {
    callback: (_error, msg) => {
      const r = decodeResult(msg.data);
      if (!frameOf.has(r.frameId)) return; // enrollment frames: answered "no-profile" while there was none
      tally.results.set(r.frameId, r);
      if (r.score === null) {
        say(`${label(r.frameId)}  not scored: ${r.reason}: ${r.error}`);
      } else {
        const verdict = r.anomalous ? "ANOMALOUS" : "ok";
        say(
          `${label(r.frameId)}  ${fixed(r.score).padStart(7)}  ${r.anomalous ? "≥" : "<"} ${
            fixed(r.threshold).padStart(6)
          }  ${verdict.padEnd(9)}  ${r.latencyMs.toFixed(0).padStart(5)} ms`,
        );
      }
      changed.dispatchEvent(new Event("change"));
    },
  });
  nc.subscribe(anomaliesSubject(STATION), {
    callback: (_error, msg) => {
      const a = decodeAnomaly(msg.data);
      if (!frameOf.has(a.frameId)) return;
      const r = a.map.regions[0];
      const where = r
        ? `top region ${r.width}×${r.height} px at (${r.x}, ${r.y}), peak ${r.peak.toFixed(2)}, ${
          (r.area * 100).toFixed(1)
        }% of the frame`
        : "no region above the map's level";
      (async () => {
        let heat = `no heat map (${a.heatmapError ?? "none made"})`;
        if (a.heatmap?.store === "file") {
          const kept = join(HEATMAP_OUT, basename(a.heatmap.key));
          await copyFile(join(stateDir, a.heatmap.key), kept).then(
            () => heat = `heat map ${relative(Deno.cwd(), kept)}`,
            (error) => heat = `heat map ${a.heatmap!.key} not copied: ${error.message}`,
          );
        } else if (a.heatmap) {
          heat = `heat map ${a.heatmap.bucket}:${a.heatmap.key}`;
        }
        say(`${" ".repeat(6)}↳ anomaly event for ${a.frameId}: ${where}; ${heat}`);
        // Counted once printed, with its heat map in place.
        tally.anomalies.set(a.frameId, a);
        changed.dispatchEvent(new Event("change"));
      })();
    },
  });
  return { tally, changed };
}

/** Resolves when `done()` holds, re-checked on every change; rejects after `timeoutMs`. */
function waitFor(changed: EventTarget, done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return unlessInterrupted(
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        finish();
        resolve();
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        changed.removeEventListener("change", check);
      };
      changed.addEventListener("change", check);
      check();
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// The demo

async function runDemo(cleanup: Cleanup): Promise<void> {
  const started = performance.now();
  const frames = await demoFrames();
  const largest = Math.max(...[...frames.enroll, ...frames.stream].map((f) => f.bytes.length));

  const tempDir = await Deno.makeTempDir({ prefix: "adp-demo-" });
  tempDirOfRun = tempDir;
  cleanup.defer("removing temporary folders", async () => {
    await Deno.remove(tempDir, { recursive: true });
    tempDirOfRun = undefined;
    say(`removed ${tempDir}`);
  });
  const stateDir = join(tempDir, "state");
  await Deno.remove(HEATMAP_OUT, { recursive: true }).catch(() => {});
  await Deno.mkdir(HEATMAP_OUT, { recursive: true });

  const bus = await ensureBus(tempDir, cleanup, largest);
  const { dir, tiny } = await ensureModel();
  const clip: ClipModel = await unlessInterrupted(
    loadClip(dir, { device: deviceFor(tiny), log: (line) => say(`  ${line}`) }),
  );
  cleanup.defer("releasing the model", () => clip.dispose());

  const connectTo = async (name: string) => {
    const nc = await connect({ servers: servers(bus.url), name, reconnect: false });
    cleanup.defer(`closing connection ${name}`, () => closeConnection(nc));
    return nc;
  };
  const serviceNc = await connectTo("adp demo service");
  const backbone = chooseBackbone();
  const processor: Processor = await startProcessor(serviceNc, {
    clip,
    stateDir,
    backbone,
    collectTimeoutMs: 60_000,
    log: (line) => say(`  service: ${line}`),
  });
  cleanup.defer("stopping the service", () => processor.stop());
  say(`service: scoring adp.frames.> with state dir ${stateDir}`);

  const camera = await connectTo("adp demo camera");
  const client = await connectTo("adp demo client");

  const pace: Pace = tiny
    ? { steps: TINY_STEPS, fps: TINY_FPS, enrollTimeoutMs: 120_000, resultsTimeoutMs: 60_000 }
    : { fps: MODEL_FPS, enrollTimeoutMs: 3_600_000, resultsTimeoutMs: 600_000 };
  if (!tiny) {
    say(
      "note: a real checkpoint enrolls with the service's default steps; on a CPU that takes minutes " +
        "(Ctrl-C stops cleanly)",
    );
  }
  await enrollStation(client, camera, frames.enroll, pace);

  const stream = frames.stream.map((frame, i) => ({ id: `frame-${String(i + 1).padStart(3, "0")}`, frame }));
  const frameOf = new Map(stream.map(({ id, frame }, i) => [id, { n: i + 1, frame }]));
  const { tally, changed } = followEvents(client, stateDir, frameOf, stream.length);
  await client.flush();
  say(
    `\nstreaming ${stream.length} frames at ${pace.fps} frames/s on ${framesSubject(STATION)}; results on ${
      resultsSubject(STATION)
    }, anomaly events on ${anomaliesSubject(STATION)}`,
  );
  say(`frame  source                           score    threshold  verdict    latency`);
  await publishFrames(camera, stream, pace.fps);
  await waitFor(
    changed,
    () => {
      if (tally.results.size < stream.length) return false;
      const anomalous = [...tally.results.values()].filter((r) => r.anomalous).length;
      return tally.anomalies.size >= anomalous;
    },
    pace.resultsTimeoutMs,
    `${stream.length} results and their anomaly events`,
  );

  const results = [...tally.results.values()];
  const scored = results.filter((r) => r.score !== null);
  const flagged = (defective: boolean) => {
    const of = stream.filter((s) => s.frame.defective === defective);
    const hit = of.filter((s) => tally.results.get(s.id)?.anomalous === true).length;
    return `${hit} of ${of.length}`;
  };
  const station = processor.status().stations.find((s) => s.station === STATION);
  say(
    `\nsummary: ${stream.length} frames in, ${results.length} results out (${scored.length} scored, ${
      results.length - scored.length
    } unscored), ${tally.anomalies.size} anomaly events`,
  );
  say(`  good frames flagged anomalous:       ${flagged(false)}`);
  say(`  defective frames flagged anomalous:  ${flagged(true)}`);
  if (station) {
    const dropped = Object.entries(station.dropped).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
    say(
      `  service: ${station.received} frames received (${SHOTS} for enrollment), ${station.scored} scored, ` +
        `latency p50 ${fixed(station.latencyMs.p50, 1)} ms, p99 ${fixed(station.latencyMs.p99, 1)} ms; ` +
        `unscored by reason: ${dropped}`,
    );
  }
  if (tally.anomalies.size) say(`  heat maps: ${relative(Deno.cwd(), HEATMAP_OUT)}/`);
  if (tiny && backbone) {
    say(
      "  (random tiny CLIP: its text branch is noise and calibration leaves it out; the patch branch is real)",
    );
  } else if (tiny) say(`  (random tiny model: these verdicts show the pipeline, not ADP's accuracy)`);
  say(`demo ran ${((performance.now() - started) / 1000).toFixed(1)} s; stopping`);
}

async function main(): Promise<number> {
  const cleanup = new Cleanup();
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals === 1) {
      say("\ninterrupted: stopping cleanly (Ctrl-C again to quit at once)");
      interrupt.abort();
    } else {
      try {
        // stop() sends SIGTERM before its first await, so the signal goes out before the exit.
        void privateServer?.stop();
        if (tempDirOfRun) Deno.removeSync(tempDirOfRun, { recursive: true });
      } catch {
        // already gone
      }
      Deno.exit(130);
    }
  };
  const names: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of names) Deno.addSignalListener(s, onSignal);
  let code = 0;
  try {
    await runDemo(cleanup);
  } catch (error) {
    if (error instanceof Interrupted || interrupt.signal.aborted) {
      code = 130;
    } else {
      console.error(`demo failed: ${(error as Error).message}`);
      code = 1;
    }
  } finally {
    await cleanup.run();
    for (const s of names) Deno.removeSignalListener(s, onSignal);
  }
  return code;
}

if (import.meta.main) Deno.exit(await main());
