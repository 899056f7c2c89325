/**
 * `adp heatmap get`: the heat-map PNG of an anomalous frame, from the bucket the service keeps them
 * in with JetStream, or from its state dir (`--state-dir`) without.
 *
 * @module
 */
import { join } from "node:path";
import { Objm } from "@nats-io/obj";
import { checkStationId, fileSafe, JetStreamName } from "../stream/mod.ts";
import { type Command, requireString, UsageError } from "./_command.ts";
import { NATS_FLAGS, NATS_USAGE } from "./_nats.ts";
import { withServiceConnection } from "./_service_command.ts";

/** `adp heatmap get` */
export const heatmapGet: Command = {
  name: "heatmap get",
  summary: "save the heat-map PNG of an anomalous frame (from the bucket, or the state dir)",
  usage: `
adp heatmap get --station S --frame ID --out FILE.png [--state-dir DIR]

Heat maps are made for anomalous frames only (adp.anomalies.<station> names them). With JetStream
the service keeps them in bucket ${JetStreamName.heatmapBucket} (key <station>/<frame>.png), read over
NATS; a service without JetStream keeps them in <state-dir>/heatmaps/<station>/: give --state-dir
to read them there (on the service's machine). Exit 2 when there is none for the frame.${NATS_USAGE}`,
  flags: {
    ...NATS_FLAGS,
    station: { type: "string" },
    frame: { type: "string" },
    out: { type: "string" },
    "state-dir": { type: "string" },
  },
  async run(args) {
    const station = checkStationId(requireString(args, "station", this.name));
    const frame = requireString(args, "frame", this.name);
    const out = requireString(args, "out", this.name);
    const stateDir = args.values["state-dir"] as string | undefined;
    const png = stateDir === undefined
      ? await withServiceConnection(args, this.name, async (nc) => {
        const bucket = await new Objm(nc).open(JetStreamName.heatmapBucket).catch(() => {
          throw new UsageError(
            `No heat-map bucket ${JetStreamName.heatmapBucket}: the service runs without JetStream; give --state-dir`,
          );
        });
        return await bucket.getBlob(`${station}/${frame}.png`);
      })
      : await Deno.readFile(join(stateDir, "heatmaps", station, `${fileSafe(frame)}.png`)).catch(() => null);
    if (!png) {
      throw new UsageError(`No heat map of frame ${frame} of ${station} (only anomalous frames have one)`);
    }
    await Deno.writeFile(out, png);
    console.log(`${station}/${frame}: heat map written to ${out} (${png.length} bytes)`);
  },
};
