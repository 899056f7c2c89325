/**
 * `adp camera`: a simulated camera replaying a folder of images on `adp.frames.<station>`, paced at
 * a frame rate, with the frame id and capture time headers a real camera gateway would set.
 *
 * @module
 */
import { errors, headers } from "@nats-io/transport-node";
import { type BusConnection, BusError, framesSubject, Header } from "../stream/mod.ts";
import { type Command, intFlag, requireString, UsageError } from "./_command.ts";
import { folderImages } from "./_image_files.ts";
import { connectFromFlags, NATS_FLAGS, NATS_USAGE } from "./_nats.ts";
import { isLiveCamera, LIVE_CAMERA_USAGE, runLiveCamera } from "./_camera_live.ts";

/** `adp camera` */
export const camera: Command = {
  name: "camera",
  summary: "publish a camera (RTSP, MJPEG, file, V4L2, or a folder of images) on adp.frames.<station>",
  usage: `
adp camera --dir DIR --station S [--glob PATTERN] [--shuffle [--seed N]] [--fps 5] [--loop] [--count N]
           [--id-prefix P] [--nats URL]

Publishes the PNG and JPEG files below DIR (subfolders too, symbolic links followed; sorted by
path) on adp.frames.<station>, each with Adp-Frame-Id <prefix>-<n> and Adp-Captured-At (RFC 3339)
headers. An MVTec test/ folder plays its defect types one after the other, good/ among them.
  --glob       only files matching PATTERN, relative to DIR (* within a name, ** across folders;
               without a "/" it matches file names at any depth): --glob "good/*.png", --glob "*.jpg"
  --shuffle    play the files in a seeded random order (the same each loop)
  --seed       the shuffle's seed (default 0: the same order every run)
  --fps        frames per second (default 5; fractions allowed)
  --loop       start over at the end of the folder until stopped (Ctrl-C)
  --count      stop after this many frames
  --id-prefix  frame id prefix (default <station>-<start time in base 36>)
${LIVE_CAMERA_USAGE}${NATS_USAGE}`,
  flags: {
    ...NATS_FLAGS,
    dir: { type: "string" },
    glob: { type: "string" },
    shuffle: { type: "boolean" },
    seed: { type: "string" },
    station: { type: "string" },
    fps: { type: "string" },
    loop: { type: "boolean" },
    count: { type: "string" },
    "id-prefix": { type: "string" },
    url: { type: "string" },
    "rtsp-transport": { type: "string" },
    device: { type: "string" },
    trigger: { type: "boolean" },
    "trigger-timeout": { type: "string" },
    quality: { type: "string" },
    width: { type: "string" },
  },
  async run(args) {
    if (isLiveCamera(args)) return await runLiveCamera(args, requireString(args, "station", this.name));
    const dir = requireString(args, "dir", this.name);
    const station = requireString(args, "station", this.name);
    const subject = framesSubject(station);
    const fps = Number(args.values.fps ?? 5);
    if (!(fps > 0 && fps <= 1000)) {
      throw new UsageError(`--fps must be a number in (0, 1000]: got ${args.values.fps}`);
    }
    const count = args.values.count === undefined ? Infinity : Number(args.values.count);
    if (!(count === Infinity || (Number.isInteger(count) && count > 0))) {
      throw new UsageError(`--count must be a positive integer: got ${args.values.count}`);
    }
    const prefix = (args.values["id-prefix"] as string | undefined) ??
      `${station}-${Date.now().toString(36)}`;
    if (args.values.seed !== undefined && !args.values.shuffle) {
      throw new UsageError("--seed orders a --shuffle: give both (see adp camera --help)");
    }
    const glob = args.values.glob as string | undefined;
    const seed = intFlag(args, "seed", 0, [0, 2 ** 32 - 1]);
    const files = await folderImages(dir, { glob, shuffle: args.values.shuffle === true, seed });
    if (!files.length) {
      throw new UsageError(`Folder ${dir} holds no PNG or JPEG images${glob ? ` matching ${glob}` : ""}`);
    }

    const nc = await connectFromFlags(args, { name: `adp camera ${station}` });
    const refusals = watchRefusals(nc);
    let stopped = false;
    const stop = () => stopped = true;
    Deno.addSignalListener("SIGINT", stop);
    const started = performance.now();
    let sent = 0, skipped = 0;
    try {
      const maxPayload = nc.info?.max_payload ?? Infinity;
      for (let n = 0; !stopped && sent < count; n++) {
        if (n >= files.length && !args.values.loop) break;
        if (skipped === files.length) break;
        const file = files[n % files.length];
        const bytes = await Deno.readFile(file);
        if (bytes.length > maxPayload) {
          if (n < files.length) {
            console.error(
              `skipped ${file}: ${bytes.length} bytes exceed the server's max_payload ${maxPayload}`,
            );
            skipped++;
          }
          continue;
        }
        const due = started + (sent * 1000) / fps;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const h = headers();
        h.set(Header.frameId, `${prefix}-${sent}`);
        h.set(Header.capturedAt, new Date().toISOString());
        nc.publish(subject, bytes, { headers: h });
        sent++;
      }
      // The server refuses a publish with an error after it, not a reply: the flush's round trip
      // makes sure any refusal of these frames has arrived.
      await nc.flush();
      await new Promise((r) => setTimeout(r, 0)); // lets the status iterator deliver what arrived
      if (refusals.length) {
        throw new BusError(
          `The server refused the frames: ${refusals[0]} (is this camera allowed on ${subject}?)`,
        );
      }
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
      await nc.drain().catch(() => nc.close());
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `published ${sent} frames of ${station} on ${subject} in ${
        seconds.toFixed(1)
      } s (ids ${prefix}-0…${prefix}-${Math.max(0, sent - 1)})`,
    );
  },
};

/** Permission violations the server reports on `nc`, as they come. */
function watchRefusals(nc: BusConnection): string[] {
  const refusals: string[] = [];
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && s.error instanceof errors.PermissionViolationError) {
        refusals.push(s.error.message);
      }
    }
  })().catch(() => {});
  return refusals;
}
