/**
 * `adp serve`: the stream processor as a long-running service. Stops cleanly on SIGINT or SIGTERM:
 * frames already received are all answered before the process exits (scored, or `stopping` once
 * `--stop-grace-ms` has passed).
 *
 * @module
 */
import { basename, resolve } from "node:path";
import { loadClip, type Precision, PRECISIONS } from "../model/mod.ts";
import { type Device, DEVICES } from "../onnx/mod.ts";
import {
  type BusConnection,
  DEFAULT_HEATMAP_LIMITS,
  DEFAULT_PROFILE_HISTORY,
  DEFAULT_STOP_GRACE_MS,
  type HeatmapLimits,
  type HeatmapRetention,
  type Processor,
  startProcessor,
} from "../stream/mod.ts";
import { loadBackboneConfig } from "../adp/patch/mod.ts";
import { createLogger, type Logger, parseLogFormat, ServiceMetrics, startOpsServer } from "../ops/mod.ts";
import { choiceFlag, type Command, intFlag, type ParsedArgs, requireString } from "./_command.ts";
import { connectFromFlags, NATS_FLAGS, NATS_USAGE } from "./_nats.ts";
import { applyServeConfig, type StationSettings } from "./_serve_config.ts";

/** `adp serve` */
export const serve: Command = {
  name: "serve",
  summary: "score camera frames from NATS, run enrollments, publish results and anomaly events",
  usage: `
adp serve --model DIR --state-dir DIR [--config FILE] [--nats URL] [--device auto|cpu|cuda|webgpu] [--precision fp32|int8|fp16] [--jetstream]
          [--http HOST:PORT] [--log-format text|json] [--heatmap-count 200] [--heatmap-bytes 268435456]
          [--backbone FILE] [--sd-model DIR] [--queue-group adp] [--max-batch 8] [--max-wait-ms 10] [--max-frame-bytes N] [--max-pixels N]
          [--max-decode-cost N] [--decode-timeout-ms 5000] [--max-stations 4096] [--queue-depth N] [--workers N] [--threads N] [--collect-timeout-s 120]
          [--profile-history 20]

Subscribes adp.frames.> in a queue group and publishes a result on adp.results.<station> for every
frame, anomaly events with a heat map on adp.anomalies.<station>, runs enrollments requested on
adp.enroll.<station>, and answers the "adp" micro service (adp.svc.status, profiles, threshold).
  --config           JSON or TOML (.toml) file of these settings (names without --), and per station
                     "stations": {"<id>": {"threshold": T, "heatmap-count": N, "heatmap-bytes": B}};
                     flags win over ADP_<FLAG> variables (ADP_MAX_BATCH), which win over the file
  --model            CLIP checkpoint folder
  --state-dir        profiles (profiles/<station>.safetensors), job records, heat maps without JetStream
  --device           execution provider (default auto)
  --precision        of the CLIP vision graph: int8 (CPU) or fp16 (GPU) trade a little accuracy for speed
                     (default fp32); int8 also runs the patch search in int8 and quantises an ONNX
                     backbone's weights at enrollment; enrollments record it in the profile
  --http             serve GET /metrics (Prometheus), /healthz and /readyz on HOST:PORT (127.0.0.1:9464)
  --log-format       text (default: timestamp, level, message) or json (one object per line)
  --heatmap-count    heat maps kept per station, in the state dir or bucket adp-heatmaps; the oldest
                     go first (default 200)
  --heatmap-bytes    PNG bytes of heat maps kept per station (default 268435456); the newest stays
  --backbone         backbone JSON for the patch branch of enrollments (default: CLIP's patch tokens);
                     profiles record it, so scoring any profile needs no setting
  --sd-model         Stable Diffusion folder (adp models pull) for enrollments asking synth sd or mix;
                     missing or broken: one log line, and those enrollments run procedural
  --jetstream        durable frames (stream ADP_FRAMES, acknowledged once answered; results kept once per
                     frame in ADP_RESULTS), profiles shared through bucket adp-profiles (deletes leave
                     tombstones), anomaly events in stream ADP_ANOMALIES (de-duplicated by Nats-Msg-Id),
                     heat maps in bucket adp-heatmaps
  --queue-group      instances in one group share the frames (default adp)
  --max-batch        frames per model batch, from any stations (default 8)
  --max-wait-ms      longest wait for a batch to fill (default 10)
  --max-frame-bytes  larger frames are refused before decoding (default 8388608)
  --max-pixels       frames whose header announces more pixels are refused (default 50000000)
  --queue-depth      frames waiting per station before the oldest is dropped (default 2 × max-batch)
  --max-decode-cost  frames whose header announces a larger decode cost (pixels × bytes per pixel ×
                     JPEG scans) are refused (default 200000000)
  --decode-timeout-ms  a decode taking longer is stopped, its worker replaced (default 5000)
  --stop-grace-ms    on SIGTERM, how long frames still waiting are scored; then they are answered
                     stopping (with --jetstream handed back to the stream) (default 5000)
  --max-stations     stations tracked at most; beyond it the longest idle one is forgotten, one without
                     a profile first; a profile stays on disk, loaded again on the next frame (so do those
                     found at start beyond it) (default 4096)
  --workers          decode workers (default cores − 1, 2 to 4); one station uses at most all but one
  --threads          onnxruntime CPU threads (default all cores)
  --collect-timeout-s  how long an enrollment waits for the station's frames (default 120)
  --profile-history  profile versions kept per station for rollback, oldest pruned (default 20)${NATS_USAGE}`,
  flags: {
    ...NATS_FLAGS,
    config: { type: "string" },
    model: { type: "string" },
    "state-dir": { type: "string" },
    device: { type: "string" },
    precision: { type: "string" },
    http: { type: "string" },
    "log-format": { type: "string" },
    "heatmap-count": { type: "string" },
    "heatmap-bytes": { type: "string" },
    backbone: { type: "string" },
    "sd-model": { type: "string" },
    jetstream: { type: "boolean" },
    "queue-group": { type: "string" },
    "max-batch": { type: "string" },
    "max-wait-ms": { type: "string" },
    "max-frame-bytes": { type: "string" },
    "max-pixels": { type: "string" },
    "max-decode-cost": { type: "string" },
    "decode-timeout-ms": { type: "string" },
    "stop-grace-ms": { type: "string" },
    "max-stations": { type: "string" },
    "queue-depth": { type: "string" },
    workers: { type: "string" },
    threads: { type: "string" },
    "collect-timeout-s": { type: "string" },
    "profile-history": { type: "string" },
  },
  async run(args) {
    const stationSettings = await applyServeConfig(args, this.flags);
    const model = requireString(args, "model", this.name);
    const stateDir = requireString(args, "state-dir", this.name);
    const device = choiceFlag<Device>(args, "device", DEVICES, "auto");
    const logger = createLogger({ format: parseLogFormat(args.values["log-format"] as string | undefined) });
    const settings = processorSettings(args);
    const threads = args.values.threads === undefined ? undefined : intFlag(args, "threads", 1, [1, 1024]);
    const precision = args.values.precision === undefined
      ? undefined
      : choiceFlag<Precision>(args, "precision", PRECISIONS, "fp32");
    const backboneFlag = args.values.backbone as string | undefined;
    // Checked now: a wrong path should stop the service at start, not fail the first enrollment.
    if (backboneFlag !== undefined) await loadBackboneConfig(backboneFlag);
    const backbone = backboneFlag === undefined ? undefined : resolve(backboneFlag);

    const state = { modelLoaded: false, connected: false, profilesLoaded: false };
    const metrics = new ServiceMetrics();
    const http = args.values.http === undefined ? undefined : await startOpsServer({
      listen: args.values.http as string,
      metrics,
      ready: {
        connected: () => state.connected,
        model: () => state.modelLoaded,
        profiles: () => state.profilesLoaded,
      },
      log: logger.line,
    });
    if (http) logger.log("info", `serving /metrics, /healthz, /readyz on ${http.hostname}:${http.port}`);
    try {
      const clip = await loadClip(model, { device, threads, precision, log: logger.line });
      state.modelLoaded = true;
      try {
        const nc = await connectFromFlags(args, {
          name: `adp serve ${basename(resolve(model))}`,
          persistent: true,
        });
        state.connected = true;
        followConnection(nc, logger, (up) => state.connected = up);
        const processor = await startProcessor(nc, {
          ...settings,
          clip,
          stateDir,
          jetstream: args.values.jetstream === true,
          backbone,
          sdModel: args.values["sd-model"] as string | undefined,
          heatmapRetention: heatmapRetention(args, stationSettings),
          log: logger.line,
          telemetry: metrics,
        });
        metrics.setSource({
          stations: () => processor.status().stations,
          heatmapFailures: () => processor.status().heatmapFailures,
          heatmapStore: () => processor.heatmapUsage(),
          enrollQueue: () => processor.status().enrollQueue,
          evictedStations: () => processor.status().evictedStations ?? 0,
        });
        await applyStationSettings(processor, stationSettings, logger);
        state.profilesLoaded = true;
        logger.log(
          "info",
          `adp serve: listening on ${nc.getServer()}; Ctrl-C stops after answering every frame received`,
        );
        await runUntilSignal(processor, nc);
      } finally {
        await clip.dispose();
      }
    } finally {
      await http?.close();
    }
  },
};

/** The processor's limits from the flags (or the config file and environment they were filled from). */
function processorSettings(args: ParsedArgs) {
  const maxBatch = intFlag(args, "max-batch", 8, [1, 256]);
  return {
    queueGroup: (args.values["queue-group"] as string | undefined) ?? "adp",
    maxBatch,
    maxWaitMs: intFlag(args, "max-wait-ms", 10, [0, 10_000]),
    maxFrameBytes: intFlag(args, "max-frame-bytes", 8 * 1024 * 1024, [1, 1 << 30]),
    maxPixels: intFlag(args, "max-pixels", 50_000_000, [1, 1_000_000_000]),
    maxDecodeCost: intFlag(args, "max-decode-cost", 200_000_000, [1, 1e12]),
    decodeTimeoutMs: intFlag(args, "decode-timeout-ms", 5000, [10, 3_600_000]),
    stopGraceMs: intFlag(args, "stop-grace-ms", DEFAULT_STOP_GRACE_MS, [0, 3_600_000]),
    maxStations: intFlag(args, "max-stations", 4096, [1, 1_000_000]),
    queueDepth: intFlag(args, "queue-depth", 2 * maxBatch, [1, 100_000]),
    workers: args.values.workers === undefined ? undefined : intFlag(args, "workers", 1, [1, 64]),
    collectTimeoutMs: intFlag(args, "collect-timeout-s", 120, [1, 86_400]) * 1000,
    profileHistory: intFlag(args, "profile-history", DEFAULT_PROFILE_HISTORY, [1, 10_000]),
  };
}

/** Heat-map limits: the flags' (or the file's) defaults, and each station's own from the file. */
function heatmapRetention(args: ParsedArgs, stations: Record<string, StationSettings>): HeatmapRetention {
  const own: Record<string, Partial<HeatmapLimits>> = {};
  for (const [station, s] of Object.entries(stations)) {
    own[station] = { count: s.heatmapCount, bytes: s.heatmapBytes };
  }
  return {
    count: intFlag(args, "heatmap-count", DEFAULT_HEATMAP_LIMITS.count, [1, 1e9]),
    bytes: intFlag(args, "heatmap-bytes", DEFAULT_HEATMAP_LIMITS.bytes, [1, Number.MAX_SAFE_INTEGER]),
    stations: own,
  };
}

/** Logs the connection's disconnects and reconnects and keeps `/readyz`'s view of it. */
function followConnection(nc: BusConnection, logger: Logger, up: (connected: boolean) => void): void {
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error") {
        if (s.type !== "error") up(s.type === "reconnect");
        const server = "server" in s && s.server ? ` ${s.server}` : "";
        logger.log(s.type === "reconnect" ? "info" : "warn", `nats: ${s.type}${server}`);
      }
    }
  })();
  nc.closed().then(() => up(false));
}

/** Puts the config file's per-station thresholds in force; a station without a profile is reported. */
async function applyStationSettings(
  processor: Processor,
  settings: Record<string, StationSettings>,
  logger: Logger,
): Promise<void> {
  for (const [station, s] of Object.entries(settings)) {
    if (s.threshold === undefined) continue;
    const current = processor.status().stations.find((x) => x.station === station)?.threshold;
    if (current === s.threshold) continue;
    if (current === undefined || current === null) {
      logger.log("warn", `config threshold of ${station} not applied: no profile yet`, { station });
      continue;
    }
    await processor.setThreshold({ station, threshold: s.threshold });
  }
}

async function runUntilSignal(processor: Processor, nc: BusConnection): Promise<void> {
  const stop = () => processor.stop();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  try {
    const outcome = await processor.closed;
    if (outcome instanceof Error) throw outcome;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
    if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}
