/**
 * The edge service end to end through a real nats-server, with a ViT-B/16-sized model (random
 * weights) on the CPU and real 900×900 PNG frames (MVTec-AD bottle, test set), measured beside the
 * bare vision graph in the same run:
 *
 * - throughput through NATS (bursts of frames of one enrolled station: publish → decode and resize in
 *   a worker → batched scoring → result on the bus, anomaly events with heat maps; and bursts spread
 *   over four stations, whose frames share each micro-batch's vision pass) as a ratio to the bare
 *   vision graph's images/s at the service's batch size on preprocessed pixels (target ≥ 0.85). The
 *   two alternate over a few rounds and the median ratio is reported, so that other load on the
 *   machine shifts both alike; beside it the same ratio in frames per CPU second of the service's
 *   process, which other processes on the machine barely move;
 * - latency (publish → result received, at the client) with the camera paced at 50% and 90% of the
 *   throughput just measured: p50 and p99;
 * - resident memory per enrolled station: two child processes load the model and start the service
 *   on a state dir holding 1 and 1 + N copies of one profile; the difference over N, once loaded and
 *   again after every station has scored a frame (a scorer opens its patch memory on its first frame).
 *
 * The profile is enrolled once with few steps (its quality does not matter to these figures) and kept
 * in .cache/bench for later runs.
 * Run by `deno task bench` in its own process; never asserts timings. Needs ../shared (vocabulary and
 * images); says so and skips without it.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { existsSync } from "node:fs";
import process from "node:process";
import { copyFile, readdir } from "node:fs/promises";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { writeRandomCheckpoint } from "../src/clip/random_checkpoint.ts";
import { decodeImage } from "../src/image/decode.ts";
import { preprocessRgb } from "../src/clip/preprocess.ts";
import { type ClipModel, loadClip } from "../src/model/clip_model.ts";
import { parsePrecision } from "../src/model/precision.ts";
import { type Device, DEVICES } from "../src/onnx/runtime.ts";
import { enroll } from "../src/adp/enroll.ts";
import { loadProfile, saveProfile } from "../src/adp/profile.ts";
import { decodeResult, type ResultMessage } from "../src/stream/messages.ts";
import { startProcessor } from "../src/stream/processor.ts";
import { framesSubject, Header, RESULTS_WILDCARD } from "../src/stream/subjects.ts";
import { cleanup as stopServer, setup as startServer } from "../tests/_nats.ts";
import { retainFreedMemory } from "../src/allocator.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** bench/gpu-check.sh points these at its carried files and at the GPU (default: ../shared, cpu, fp32). */
const SHARED = Deno.env.get("ADP_BENCH_SHARED") ?? join(ROOT, "..", "shared");
const DEVICE = Deno.env.get("ADP_BENCH_DEVICE") as Device | undefined ?? "cpu";
if (!DEVICES.includes(DEVICE)) throw new Error(`ADP_BENCH_DEVICE=${DEVICE} is none of ${DEVICES.join(", ")}`);
const PRECISION = parsePrecision(Deno.env.get("ADP_BENCH_PRECISION") ?? "fp32");
const VOCAB_NAME = "bpe_simple_vocab_16e6.txt.gz";
const VOCAB = join(SHARED, "fixtures/clip-oracle/tokenizer", VOCAB_NAME);
const BOTTLE = join(SHARED, "datasets/mvtec-ad/bottle");
const MODEL_DIR = join(ROOT, ".cache/bench/vit-b-16");
const CACHE_DIR = join(ROOT, ".cache/bench/cache");
/** The enrolled profile, kept for later runs (enrolled again when the model changes). */
const PROFILE_CACHE = join(ROOT, ".cache/bench/nats-bench-profile.safetensors");

/** The service's default batch size: the bare graph is measured at the same one. */
const MAX_BATCH = 8;
/** Rounds of (bare graph, burst through NATS), alternating so that a change of load hits both alike. */
const CYCLES = 3;
/** Frames per burst through NATS (three batches). */
const BURST = 24;
/** Vision runs of batch {@linkcode MAX_BATCH} per bare measurement. */
const BARE_ROUNDS = 2;
/** Frames per paced latency run: p99 of 30 is their maximum. */
const PACED = 30;
/** Extra stations in the memory measurement. */
const EXTRA_STATIONS = 16;
const STATION = "bench-1";
/** Stations of the mixed bursts: their frames share micro-batches, and so one vision pass each. */
const MIXED_STATIONS = [STATION, "bench-2", "bench-3", "bench-4"];

const quiet = () => {};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The machine's 1-minute load average (other work shares the cores and skews wall-clock figures). */
function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

function rssMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().rss / 2 ** 20;
}

async function ensureModel(): Promise<void> {
  if (!existsSync(join(MODEL_DIR, "open_clip_model.safetensors"))) {
    console.log("writing a random ViT-B/16 checkpoint (once) …");
    await writeRandomCheckpoint(MODEL_DIR, { arch: "vit-b-16", layout: "openclip", dtype: "F16", seed: 0 });
  }
  if (!existsSync(join(MODEL_DIR, VOCAB_NAME))) await copyFile(VOCAB, join(MODEL_DIR, VOCAB_NAME));
}

function openModel(): Promise<ClipModel> {
  return loadClip(MODEL_DIR, { device: DEVICE, precision: PRECISION, cacheDir: CACHE_DIR, log: quiet });
}

/** Every bottle test image (900×900 PNG), sorted. */
async function testFrames(): Promise<Uint8Array[]> {
  const files: string[] = [];
  // A carried copy of ../shared (bench/gpu-pack.sh) holds only the eight shots: they stand in.
  const test = existsSync(join(BOTTLE, "test")) ? join(BOTTLE, "test") : join(BOTTLE, "train");
  for (const kind of (await readdir(test)).sort()) {
    for (const f of (await readdir(join(test, kind))).sort()) {
      if (f.endsWith(".png")) files.push(join(test, kind, f));
    }
  }
  return await Promise.all(files.map((f) => Deno.readFile(f)));
}

/** CPU seconds this process has used, all threads (onnxruntime's pool and the decode worker too). */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * The vision graph alone on preprocessed frames, batch {@linkcode MAX_BATCH}: images per second of
 * wall time (median round) and per CPU second (all rounds).
 */
async function bareVision(
  clip: ClipModel,
  frames: Uint8Array[],
  rounds: number,
): Promise<{ wall: number; cpu: number }> {
  const { imageSize } = clip.config.vision;
  const { mean, std } = clip.config.preprocess;
  const per = 3 * imageSize * imageSize;
  const pixels = new Float32Array(MAX_BATCH * per);
  for (let i = 0; i < MAX_BATCH; i++) {
    const rgb = await decodeImage(frames[i % frames.length]);
    pixels.set(preprocessRgb(rgb, { size: imageSize, mode: "resize", mean, std }), i * per);
  }
  await clip.encodeImage(pixels, MAX_BATCH);
  const ms: number[] = [];
  const cpu = cpuSeconds();
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    await clip.encodeImage(pixels, MAX_BATCH);
    ms.push(performance.now() - t);
  }
  return { wall: (MAX_BATCH * 1000) / median(ms), cpu: (rounds * MAX_BATCH) / (cpuSeconds() - cpu) };
}

/** Results on a subject as they arrive (those whose frame id starts with `prefix`), with arrival times. */
class ResultLog {
  readonly arrived = new Map<string, { at: number; result: ResultMessage }>();
  #waiter: { n: number; resolve: () => void } | undefined;

  constructor(nc: NatsConnection, subject: string, prefix = "") {
    nc.subscribe(subject, {
      callback: (_error, msg) => {
        const result = decodeResult(msg.data);
        if (!result.frameId.startsWith(prefix)) return;
        this.arrived.set(result.frameId, { at: performance.now(), result });
        if (this.#waiter && this.arrived.size >= this.#waiter.n) this.#waiter.resolve();
      },
    });
  }

  /** Resolves once `n` results have arrived in all; rejects after `timeoutMs`. */
  async count(n: number, timeoutMs: number): Promise<void> {
    if (this.arrived.size >= n) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#waiter = { n, resolve };
        timer = setTimeout(
          () => reject(new Error(`Timed out: ${this.arrived.size} of ${n} results after ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
    } finally {
      clearTimeout(timer);
      this.#waiter = undefined;
    }
  }
}

/**
 * Publishes `ids.length` frames at `fps` (all at once when Infinity), frame i to station
 * i mod stations; returns each one's publish time.
 */
async function publishFrames(
  nc: NatsConnection,
  stations: readonly string[],
  frames: Uint8Array[],
  ids: string[],
  fps: number,
): Promise<Map<string, number>> {
  const sent = new Map<string, number>();
  const started = performance.now();
  for (const [i, id] of ids.entries()) {
    if (Number.isFinite(fps)) {
      const wait = started + (i * 1000) / fps - performance.now();
      if (wait > 0) await sleep(wait);
    }
    const h = headers();
    h.set(Header.frameId, id);
    h.set(Header.capturedAt, String(Date.now()));
    sent.set(id, performance.now());
    nc.publish(framesSubject(stations[i % stations.length]), frames[i % frames.length], { headers: h });
  }
  await nc.flush();
  return sent;
}

/** What the camera process is asked to do. */
interface CameraSpec {
  url: string;
  /** Frames go to these stations in turn. */
  stations: string[];
  /** Frame ids `<prefix>-<n>`. */
  prefix: string;
  count: number;
  /** First test frame to send (they cycle). */
  offset: number;
  /** Frames per second; 0 sends them all at once. */
  fps: number;
}

/** One frame as the camera process saw it: publish and result times on its clock. */
interface CameraFrame {
  sentAt: number;
  arrivedAt: number;
  serviceMs: number;
  anomalous: boolean | null;
  error?: string;
}

/**
 * The camera process: publishes frames and follows their results, like a camera and a PLC on their
 * own machines, so that neither waits on the service's event loop.
 */
async function cameraChild(spec: CameraSpec): Promise<void> {
  const all = await testFrames();
  const frames = [...all.slice(spec.offset % all.length), ...all.slice(0, spec.offset % all.length)];
  const nc = await connect({ servers: spec.url, name: "bench camera" });
  const log = new ResultLog(nc, RESULTS_WILDCARD, `${spec.prefix}-`);
  await nc.flush();
  const ids = Array.from({ length: spec.count }, (_, i) => `${spec.prefix}-${i}`);
  const sent = await publishFrames(nc, spec.stations, frames, ids, spec.fps > 0 ? spec.fps : Infinity);
  await log.count(ids.length, 300_000);
  await nc.close();
  const out: CameraFrame[] = ids.map((id) => {
    const { at, result } = log.arrived.get(id)!;
    return {
      sentAt: sent.get(id)!,
      arrivedAt: at,
      serviceMs: result.latencyMs,
      anomalous: result.anomalous,
      ...(result.error ? { error: `${result.reason}: ${result.error}` } : {}),
    };
  });
  console.log(JSON.stringify(out));
}

async function runCamera(spec: CameraSpec): Promise<CameraFrame[]> {
  return JSON.parse(await runSelf(["--camera", JSON.stringify(spec)]));
}

/** Runs this script in a child process with `args`; its last line of output. */
async function runSelf(args: string[], v8Flags: string[] = []): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ...v8Flags, fileURLToPath(import.meta.url), ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`bench child ${args[0]} failed (exit ${out.code}): ${text}`);
  return text.split("\n").at(-1)!;
}

function unscored(frames: CameraFrame[]): string {
  const errors = frames.filter((f) => f.error);
  return errors.length ? `${errors.length} unscored (${errors[0].error})` : "";
}

/**
 * The memory child: the model, then the service on `stateDir`, a full batch for the first station
 * (so that the model's buffers have grown to the largest batch in both children, and that growth
 * is not counted per station), then one frame per station.
 */
async function memoryChild(url: string, stateDir: string, stations: string[]): Promise<void> {
  const frame = (await testFrames())[0];
  const clip = await openModel();
  const nc = await connect({ servers: url });
  const client = await connect({ servers: url });
  const log = new ResultLog(client, RESULTS_WILDCARD);
  await client.flush();
  await sleep(200);
  const base = rssMiB();
  const processor = await startProcessor(nc, { clip, stateDir, log: quiet, queueDepth: 4 });
  await sleep(200);
  const loaded = rssMiB();
  const warmIds = Array.from({ length: MAX_BATCH }, (_, i) => `w-${i}`);
  await publishFrames(client, [stations[0]], [frame], warmIds, Infinity);
  await log.count(MAX_BATCH, 300_000);
  for (const [i, s] of stations.entries()) await publishFrames(client, [s], [frame], [`m-${i}`], Infinity);
  await log.count(MAX_BATCH + stations.length, 300_000);
  await sleep(200);
  const scored = rssMiB();
  const failed = [...log.arrived.values()].filter((a) => a.result.score === null).length;
  await processor.stop();
  await client.close();
  await nc.close();
  await clip.dispose();
  console.log(JSON.stringify({ base, loaded, scored, failed }));
}

async function runMemoryChild(
  url: string,
  stateDir: string,
  stations: string[],
): Promise<{ base: number; loaded: number; scored: number; failed: number }> {
  return JSON.parse(
    await runSelf(["--memory-child", url, stateDir, stations.join(",")], ["--v8-flags=--expose-gc"]),
  );
}

/** The profile of {@linkcode STATION}: the cached one when it fits the model, else enrolled now. */
async function benchProfile(clip: ClipModel): Promise<string> {
  const cached = await loadProfile(PROFILE_CACHE).catch(() => undefined);
  if (cached?.meta.model.hash === clip.hash) return "cached";
  const t = performance.now();
  const shots = await Promise.all(
    [0, 1, 2, 3].map((i) => Deno.readFile(join(BOTTLE, `train/good/${String(i).padStart(3, "0")}.png`))),
  );
  const profile = await enroll(clip, shots, { steps: 1, seed: 0, label: "bottle", station: STATION });
  await saveProfile(PROFILE_CACHE, profile);
  return `enrolled in ${((performance.now() - t) / 1000).toFixed(0)} s, kept for later runs`;
}

interface Paced {
  share: number;
  fps: number;
  p50: number;
  p99: number;
  serviceP50: number;
  note: string;
}

async function main(): Promise<void> {
  if (!existsSync(VOCAB) || !existsSync(BOTTLE)) {
    console.log(`NATS bench skipped: ${SHARED} (vocabulary and bottle images) is absent`);
    return;
  }
  const benchStarted = performance.now();
  await ensureModel();
  const frames = await testFrames();
  const clip = await openModel();
  const server = await startServer({ jetstream: false });
  const stateDir = await Deno.makeTempDir({ prefix: "adp-nats-bench-" });
  try {
    const enrolled = await benchProfile(clip);
    const profileFile = join(stateDir, "profiles", `${STATION}.safetensors`);
    await Deno.mkdir(join(stateDir, "profiles"), { recursive: true });
    for (const station of MIXED_STATIONS) {
      await copyFile(PROFILE_CACHE, join(stateDir, "profiles", `${station}.safetensors`));
    }
    const profileKiB = (await Deno.stat(profileFile)).size / 1024;
    const meanKiB = frames.reduce((s, f) => s + f.length, 0) / frames.length / 1024;
    console.log(
      `NATS bench on ${clip.provider} (${DEVICE} asked), ${clip.precision}: ` +
        `profile K = 4, 1 step (${enrolled}), ${profileKiB.toFixed(0)} KiB; ${frames.length} ` +
        `bottle test frames (900×900 PNG, ${meanKiB.toFixed(0)} KiB on average)`,
    );

    // The service alone in this process; the camera (and the results it follows) in another.
    const processor = await startProcessor(await server.connect("bench service"), {
      clip,
      stateDir,
      maxBatch: MAX_BATCH,
      // A queue that holds a whole burst: throughput is measured without overload drops.
      queueDepth: 4 * BURST,
      log: quiet,
    });
    const camera = (prefix: string, count: number, offset: number, fps: number, stations = [STATION]) =>
      runCamera({ url: server.url, stations, prefix, count, offset, fps });
    const cycles: { bare: number; e2e: number; mixed: number; bareCpu: number; e2eCpu: number }[] = [];
    const load = [loadAverage()];
    let anomalous = 0;
    const paced: Paced[] = [];
    try {
      // Warm-up: decode worker, the scorer's patch memory, a full batch.
      await camera("warm", MAX_BATCH, 0, 0);
      for (let c = 0; c < CYCLES; c++) {
        const bare = await bareVision(clip, frames, BARE_ROUNDS);
        const cpu = cpuSeconds();
        // Other frames each round, so good ones and every defect kind pass through.
        const burst = await camera(`burst${c}`, BURST, MAX_BATCH + c * BURST, 0);
        // The burst's anomaly events (heat maps) finish too, and count.
        await sleep(1000);
        const e2eCpu = BURST / (cpuSeconds() - cpu);
        const mixed = await camera(`mixed${c}`, BURST, MAX_BATCH + c * BURST, 0, MIXED_STATIONS);
        await sleep(1000);
        const rate = (run: CameraFrame[]) =>
          (run.length * 1000) /
          (Math.max(...run.map((f) => f.arrivedAt)) - Math.min(...run.map((f) => f.sentAt)));
        cycles.push({ bare: bare.wall, bareCpu: bare.cpu, e2e: rate(burst), mixed: rate(mixed), e2eCpu });
        anomalous += burst.filter((f) => f.anomalous).length;
        for (const [name, run] of [["burst", burst], ["mixed burst", mixed]] as const) {
          const note = unscored(run);
          if (note) console.log(`warning: ${name} ${c + 1}: ${note}`);
        }
      }
      const capacity = median(cycles.map((c) => c.e2e));
      for (const share of [0.5, 0.9]) {
        const fps = share * capacity;
        const run = await camera(`paced${share * 100}`, PACED, 0, fps);
        paced.push({
          share,
          fps,
          p50: percentile(run.map((f) => f.arrivedAt - f.sentAt), 50),
          p99: percentile(run.map((f) => f.arrivedAt - f.sentAt), 99),
          serviceP50: percentile(run.map((f) => f.serviceMs), 50),
          note: unscored(run),
        });
        await sleep(1000);
      }
    } finally {
      await processor.stop();
    }
    load.push(loadAverage());

    // Memory: 1 station, then 1 + N stations, each in a fresh process.
    const many = [STATION, ...Array.from({ length: EXTRA_STATIONS }, (_, i) => `bench-copy-${i + 1}`)];
    const oneDir = await Deno.makeTempDir({ prefix: "adp-nats-bench-one-" });
    const manyDir = await Deno.makeTempDir({ prefix: "adp-nats-bench-many-" });
    let one, all;
    try {
      for (const [dir, stations] of [[oneDir, [STATION]], [manyDir, many]] as const) {
        await Deno.mkdir(join(dir, "profiles"));
        for (const s of stations) await copyFile(profileFile, join(dir, "profiles", `${s}.safetensors`));
      }
      one = await runMemoryChild(server.url, oneDir, [STATION]);
      all = await runMemoryChild(server.url, manyDir, many);
    } finally {
      for (const dir of [oneDir, manyDir]) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }

    const ratios = cycles.map((c) => c.e2e / c.bare);
    const mixedRatios = cycles.map((c) => c.mixed / c.bare);
    const cpuRatios = cycles.map((c) => c.e2eCpu / c.bareCpu);
    const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(" / ");
    const rows: string[][] = [
      [
        "",
        "frames/s: median (rounds)",
        "ratio: median (rounds)",
        "per CPU s",
        "CPU ratio (rounds)",
        "p50 ms",
        "p99 ms",
        "service p50 ms",
      ],
      [
        `bare vision graph, batch ${MAX_BATCH}, preprocessed pixels`,
        `${median(cycles.map((c) => c.bare)).toFixed(2)} (${list(cycles.map((c) => c.bare))})`,
        "1",
        median(cycles.map((c) => c.bareCpu)).toFixed(2),
        "1",
      ],
      [
        `through NATS, bursts of ${BURST} PNG frames`,
        `${median(cycles.map((c) => c.e2e)).toFixed(2)} (${list(cycles.map((c) => c.e2e))})`,
        `${median(ratios).toFixed(2)} (${list(ratios)})`,
        median(cycles.map((c) => c.e2eCpu)).toFixed(2),
        `${median(cpuRatios).toFixed(2)} (${list(cpuRatios)})`,
      ],
      [
        `through NATS, bursts of ${BURST} over ${MIXED_STATIONS.length} stations`,
        `${median(cycles.map((c) => c.mixed)).toFixed(2)} (${list(cycles.map((c) => c.mixed))})`,
        `${median(mixedRatios).toFixed(2)} (${list(mixedRatios)})`,
      ],
      ...paced.map((p) => [
        `camera paced at ${p.share * 100}% (${p.fps.toFixed(2)} frames/s, ${PACED} frames)`,
        "",
        "",
        "",
        "",
        p.p50.toFixed(0),
        p.p99.toFixed(0),
        p.serviceP50.toFixed(0) + (p.note ? `  ${p.note}` : ""),
      ]),
    ];
    console.log(
      `\nNATS end to end: ViT-B/16 (random weights), onnxruntime ${clip.provider}, one station, max batch ` +
        `${MAX_BATCH}; bare graph and bursts alternate ${CYCLES} times (target ratio ≥ 0.85); ${anomalous} of ` +
        `${
          CYCLES * BURST
        } burst frames anomalous (events with heat maps); latency: camera publish → result ` +
        `at the camera's process, p99 of ${PACED} frames is their maximum; service: its receipt → result. ` +
        `CPU columns: frames per CPU second of the service's process (all threads), robust to other load ` +
        `on the machine (load average ${
          load.map((l) => l.toFixed(1)).join(" → ")
        } on ${navigator.hardwareConcurrency} cores)`,
    );
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
    for (const r of rows) {
      console.log(r.map((cell, c) => (cell ?? "").padEnd(widths[c])).join("  ").trimEnd());
    }
    const perLoaded = (all.loaded - all.base - (one.loaded - one.base)) / EXTRA_STATIONS;
    const perScored = (all.scored - all.base - (one.scored - one.base)) / EXTRA_STATIONS;
    console.log(
      `resident memory per enrolled station: ${perLoaded.toFixed(1)} MiB once loaded, ${
        perScored.toFixed(1)
      } MiB once it has scored a frame (profile file ${profileKiB.toFixed(0)} KiB; RSS with 1 station ${
        one.scored.toFixed(0)
      } MiB, with ${many.length} ${all.scored.toFixed(0)} MiB${
        one.failed + all.failed ? `; ${one.failed + all.failed} frames unscored` : ""
      })`,
    );
    console.log(`NATS bench took ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`);
  } finally {
    await clip.dispose();
    await stopServer(server);
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  retainFreedMemory();
  if (Deno.args[0] === "--memory-child") {
    await memoryChild(Deno.args[1], Deno.args[2], Deno.args[3].split(","));
  } else if (Deno.args[0] === "--camera") {
    await cameraChild(JSON.parse(Deno.args[1]));
  } else {
    await main();
  }
}
