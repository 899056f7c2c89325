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
import { join, relative } from "node:path";
import { existsSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { writeRandomCheckpoint } from "./clip/mod.ts";
import { type ClipModel, loadClip } from "./model/mod.ts";
import { type Device, DEVICES } from "./onnx/mod.ts";
import { renderProgressBar } from "./progress_bar.ts";
import {
  anomaliesSubject,
  type EnrollProgressMessage,
  enrollProgressSubject,
  type EnrollRequest,
  enrollSubject,
  framesSubject,
  type Processor,
  requestEnrollment,
  resultsSubject,
  startProcessor,
} from "./stream/mod.ts";
import { type Bus, closeConnection, ensureBus, runningPrivateServer, servers } from "./cli/_demo_bus.ts";
import { type DemoFrame, demoFrames, publishFrames } from "./cli/_demo_camera.ts";
import {
  Cleanup,
  drawBar,
  fixed,
  interrupt,
  Interrupted,
  say,
  terminalColumns,
  unlessInterrupted,
} from "./cli/_demo_console.ts";
import { followEvents, type Tally, waitFor } from "./cli/_demo_events.ts";
import { retainFreedMemory } from "./allocator.ts";

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
/** The camera's rate: the tiny model keeps up with it on any CPU. */
const TINY_FPS = 8;
/** A real checkpoint on a CPU scores a few frames a second: slow enough that its queue never overflows. */
const MODEL_FPS = 2;

/** The temporary folder while it exists, for a second Ctrl-C that quits at once. */
let tempDirOfRun: string | undefined;

/** How the demo runs for the model it has: the tiny one fast, a real one within what a CPU manages. */
interface Pace {
  /** Concept-learning steps of the enrollment request; absent: the service's default. */
  steps?: number;
  /** The camera's frames per second. */
  fps: number;
  enrollTimeoutMs: number;
  resultsTimeoutMs: number;
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

// ---------------------------------------------------------------------------------------------
// Camera, enrollment, events

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
  let started = performance.now();
  let camera$: Promise<void> = Promise.resolve();
  const job = requestEnrollment(client, STATION, request, {
    timeoutMs: pace.enrollTimeoutMs,
    onAccepted: (reply) => {
      say(`  job ${reply.jobId} accepted: the service takes the next ${reply.shots} frames of ${STATION}`);
      started = performance.now();
      const shots = frames.map((frame, i) => ({ id: `enroll-${i}`, frame }));
      camera$ = publishFrames(camera, STATION, shots, pace.fps);
      // Awaited below; marked handled now in case the job fails first.
      camera$.catch(() => {});
    },
  });
  const outcome = await unlessInterrupted(printProgress(job, () => started));
  if (outcome.error !== undefined) throw new Error(`Enrollment failed: ${outcome.error}`);
  await unlessInterrupted(camera$);
  say(
    `  enrollment done: profile v${outcome.profileVersion} of ${STATION} in force after ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
  return outcome.profileVersion!;
}

/** Prints each progress message as a bar with the time since `since()`; returns the job's outcome. */
async function printProgress(
  job: AsyncIterable<EnrollProgressMessage>,
  since: () => number,
): Promise<EnrollProgressMessage> {
  const terminal = Deno.stdout.isTerminal();
  let lastStage = "";
  let last: EnrollProgressMessage | undefined;
  for await (const p of job) {
    const t = `${((performance.now() - since()) / 1000).toFixed(1).padStart(5)} s`;
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
    last = p;
  }
  if (terminal) say();
  // requestEnrollment ends only after the job's last message, or throws.
  return last!;
}

// ---------------------------------------------------------------------------------------------
// The demo

/** What a run works with once the bus, the model and the service are up. */
interface Run {
  frames: { enroll: DemoFrame[]; stream: DemoFrame[] };
  stateDir: string;
  tiny: boolean;
  backbone: string | undefined;
  processor: Processor;
  camera: NatsConnection;
  client: NatsConnection;
}

async function runDemo(cleanup: Cleanup): Promise<void> {
  const started = performance.now();
  const run = await setUp(cleanup);
  const pace: Pace = run.tiny
    ? { steps: TINY_STEPS, fps: TINY_FPS, enrollTimeoutMs: 120_000, resultsTimeoutMs: 60_000 }
    : { fps: MODEL_FPS, enrollTimeoutMs: 3_600_000, resultsTimeoutMs: 600_000 };
  if (!run.tiny) {
    say(
      "note: a real checkpoint enrolls with the service's default steps; on a CPU that takes minutes " +
        "(Ctrl-C stops cleanly)",
    );
  }
  await enrollStation(run.client, run.camera, run.frames.enroll, pace);
  const stream = run.frames.stream.map((frame, i) => ({
    id: `frame-${String(i + 1).padStart(3, "0")}`,
    frame,
  }));
  const tally = await streamFrames(run, stream, pace);
  printSummary(run, stream, tally);
  say(`demo ran ${((performance.now() - started) / 1000).toFixed(1)} s; stopping`);
}

/** Frames, temporary folders, the bus, the model and the service, each released by `cleanup`. */
async function setUp(cleanup: Cleanup): Promise<Run> {
  const frames = await demoFrames(BOTTLE, SHOTS);
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

  const serviceNc = await connectTo(bus, "adp demo service", cleanup);
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

  const camera = await connectTo(bus, "adp demo camera", cleanup);
  const client = await connectTo(bus, "adp demo client", cleanup);
  return { frames, stateDir, tiny, backbone, processor, camera, client };
}

/** A connection to the bus, drained at the end. */
async function connectTo(bus: Bus, name: string, cleanup: Cleanup): Promise<NatsConnection> {
  const nc = await connect({ servers: servers(bus.url), name, reconnect: false });
  cleanup.defer(`closing connection ${name}`, () => closeConnection(nc));
  return nc;
}

/** Streams the test frames and waits until each has its result and each anomalous one its event. */
async function streamFrames(
  run: Run,
  stream: { id: string; frame: DemoFrame }[],
  pace: Pace,
): Promise<Tally> {
  const frameOf = new Map(stream.map(({ id, frame }, i) => [id, { n: i + 1, frame }]));
  const { tally, changed } = followEvents(run.client, {
    station: STATION,
    stateDir: run.stateDir,
    heatmapOut: HEATMAP_OUT,
    frameOf,
    total: stream.length,
  });
  await run.client.flush();
  say(
    `\nstreaming ${stream.length} frames at ${pace.fps} frames/s on ${framesSubject(STATION)}; results on ${
      resultsSubject(STATION)
    }, anomaly events on ${anomaliesSubject(STATION)}`,
  );
  say(`frame  source                           score    threshold  verdict    latency`);
  await publishFrames(run.camera, STATION, stream, pace.fps);
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
  return tally;
}

function printSummary(run: Run, stream: { id: string; frame: DemoFrame }[], tally: Tally): void {
  const results = [...tally.results.values()];
  const scored = results.filter((r) => r.score !== null);
  const flagged = (defective: boolean) => {
    const of = stream.filter((s) => s.frame.defective === defective);
    const hit = of.filter((s) => tally.results.get(s.id)?.anomalous === true).length;
    return `${hit} of ${of.length}`;
  };
  const station = run.processor.status().stations.find((s) => s.station === STATION);
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
  if (run.tiny && run.backbone) {
    say(
      "  (random tiny CLIP: its text branch is noise and calibration leaves it out; the patch branch is real)",
    );
  } else if (run.tiny) say(`  (random tiny model: these verdicts show the pipeline, not ADP's accuracy)`);
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
        void runningPrivateServer()?.stop();
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

if (import.meta.main) {
  retainFreedMemory();
  Deno.exit(await main());
}
