/**
 * `adp serve`: the stream processor as a long-running service. Stops cleanly on SIGINT or SIGTERM:
 * frames already received are all answered before the process exits.
 *
 * @module
 */
import { basename, resolve } from "node:path";
import { loadClip } from "../model/mod.ts";
import { type Device, DEVICES } from "../onnx/mod.ts";
import { startProcessor } from "../stream/mod.ts";
import { loadBackboneConfig } from "../adp/patch/mod.ts";
import { choiceFlag, type Command, intFlag, requireString } from "./_command.ts";
import { connectFromFlags, NATS_FLAGS, NATS_USAGE } from "./_nats.ts";

/** `adp serve` */
export const serve: Command = {
  name: "serve",
  summary: "score camera frames from NATS, run enrollments, publish results and anomaly events",
  usage: `
adp serve --model DIR --state-dir DIR [--nats URL] [--device auto|cpu|cuda|webgpu] [--jetstream]
          [--backbone FILE] [--queue-group adp] [--max-batch 8] [--max-wait-ms 10] [--max-frame-bytes N] [--max-pixels N]
          [--max-decode-cost N] [--decode-timeout-ms 5000] [--max-stations 4096] [--queue-depth N] [--workers N] [--threads N] [--collect-timeout-s 120]

Subscribes adp.frames.> in a queue group and publishes a result on adp.results.<station> for every
frame, anomaly events with a heat map on adp.anomalies.<station>, runs enrollments requested on
adp.enroll.<station>, and answers the "adp" micro service (adp.svc.status, profiles, threshold).
  --model            CLIP checkpoint folder
  --state-dir        profiles (profiles/<station>.safetensors), job records, heat maps without JetStream
  --device           execution provider (default auto)
  --backbone         backbone JSON for the patch branch of enrollments (default: CLIP's patch tokens);
                     profiles record it, so scoring any profile needs no setting
  --jetstream        share profiles through object store bucket adp-profiles, keep anomaly events in
                     stream ADP_ANOMALIES (de-duplicated by Nats-Msg-Id), heat maps in bucket adp-heatmaps
  --queue-group      instances in one group share the frames (default adp)
  --max-batch        frames per model batch, from any stations (default 8)
  --max-wait-ms      longest wait for a batch to fill (default 10)
  --max-frame-bytes  larger frames are refused before decoding (default 8388608)
  --max-pixels       frames whose header announces more pixels are refused (default 50000000)
  --max-decode-cost  frames whose header announces a larger decode cost (pixels × bytes per pixel ×
                     JPEG scans) are refused (default 200000000)
  --decode-timeout-ms  a decode taking longer is stopped, its worker replaced (default 5000)
  --max-stations     stations tracked at most; beyond it the longest idle one without a profile is
                     forgotten (default 4096)
  --queue-depth      frames waiting per station before the oldest is dropped (default 2 × max-batch)
  --workers          decode workers (default cores − 1, 2 to 4); one station uses at most all but one
  --threads          onnxruntime CPU threads (default all cores)
  --collect-timeout-s  how long an enrollment waits for the station's frames (default 120)${NATS_USAGE}`,
  flags: {
    ...NATS_FLAGS,
    model: { type: "string" },
    "state-dir": { type: "string" },
    device: { type: "string" },
    backbone: { type: "string" },
    jetstream: { type: "boolean" },
    "queue-group": { type: "string" },
    "max-batch": { type: "string" },
    "max-wait-ms": { type: "string" },
    "max-frame-bytes": { type: "string" },
    "max-pixels": { type: "string" },
    "max-decode-cost": { type: "string" },
    "decode-timeout-ms": { type: "string" },
    "max-stations": { type: "string" },
    "queue-depth": { type: "string" },
    workers: { type: "string" },
    threads: { type: "string" },
    "collect-timeout-s": { type: "string" },
  },
  async run(args) {
    const model = requireString(args, "model", this.name);
    const stateDir = requireString(args, "state-dir", this.name);
    const device = choiceFlag<Device>(args, "device", DEVICES, "auto");
    const maxBatch = intFlag(args, "max-batch", 8, [1, 256]);
    const maxWaitMs = intFlag(args, "max-wait-ms", 10, [0, 10_000]);
    const maxFrameBytes = intFlag(args, "max-frame-bytes", 8 * 1024 * 1024, [1, 1 << 30]);
    const maxPixels = intFlag(args, "max-pixels", 50_000_000, [1, 1_000_000_000]);
    const maxDecodeCost = intFlag(args, "max-decode-cost", 200_000_000, [1, 1e12]);
    const maxStations = intFlag(args, "max-stations", 4096, [1, 1_000_000]);
    const decodeTimeoutMs = intFlag(args, "decode-timeout-ms", 5000, [10, 3_600_000]);
    const queueDepth = intFlag(args, "queue-depth", 2 * maxBatch, [1, 100_000]);
    const workers = args.values.workers === undefined ? undefined : intFlag(args, "workers", 1, [1, 64]);
    const threads = args.values.threads === undefined ? undefined : intFlag(args, "threads", 1, [1, 1024]);
    const collectTimeoutMs = intFlag(args, "collect-timeout-s", 120, [1, 86_400]) * 1000;
    const queueGroup = (args.values["queue-group"] as string | undefined) ?? "adp";
    const backboneFlag = args.values.backbone as string | undefined;
    // Checked now: a wrong path should stop the service at start, not fail the first enrollment.
    if (backboneFlag !== undefined) await loadBackboneConfig(backboneFlag);
    const backbone = backboneFlag === undefined ? undefined : resolve(backboneFlag);

    const clip = await loadClip(model, { device, threads });
    const nc = await connectFromFlags(args, {
      name: `adp serve ${basename(resolve(model))}`,
      persistent: true,
    });
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "reconnect" || s.type === "error") {
          console.error(`nats: ${s.type}${"server" in s && s.server ? ` ${s.server}` : ""}`);
        }
      }
    })();
    const processor = await startProcessor(nc, {
      clip,
      stateDir,
      queueGroup,
      jetstream: args.values.jetstream === true,
      maxBatch,
      maxWaitMs,
      maxFrameBytes,
      maxPixels,
      maxDecodeCost,
      decodeTimeoutMs,
      maxStations,
      queueDepth,
      workers,
      collectTimeoutMs,
      backbone,
    });
    console.error(
      `adp serve: listening on ${nc.getServer()}; Ctrl-C stops after answering every frame received`,
    );
    const stop = () => processor.stop();
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    for (const s of signals) Deno.addSignalListener(s, stop);
    try {
      const outcome = await processor.closed;
      if (outcome instanceof Error) throw outcome;
    } finally {
      for (const s of signals) Deno.removeSignalListener(s, stop);
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
      await clip.dispose();
    }
  },
};
