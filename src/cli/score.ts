/**
 * `adp score`: a station's profile applied to image files offline — the scorer the service runs,
 * without NATS — to check a profile on a folder of parts before it goes live, or to re-score
 * evidence afterwards.
 *
 * @module
 */
import { basename, dirname, extname, join, resolve } from "node:path";
import { Image } from "imagescript";
import { createScorer, type FrameScore, loadProfile, type StationProfile } from "../adp/mod.ts";
import { decodeImage } from "../image/mod.ts";
import { loadClip } from "../model/mod.ts";
import { type Device, DEVICES } from "../onnx/mod.ts";
import { renderOverlay } from "../stream/mod.ts";
import { choiceFlag, type Command, intFlag, type ParsedArgs, UsageError } from "./_command.ts";
import { collectImages } from "./_image_files.ts";

/** The verdict on one image file. */
export interface ImageVerdict {
  image: string;
  score: number;
  threshold: number;
  anomalous: boolean;
}

/** `adp score` */
export const score: Command = {
  name: "score",
  summary: "score image files against a station profile offline (the service's scorer, no NATS)",
  usage: `
adp score (--profile FILE | --station S --state-dir DIR) --images PATH… [--model DIR] [--device auto|cpu|cuda|webgpu]
          [--json] [--report FILE.csv|FILE.json] [--maps DIR] [--batch 8]

Prints a verdict per image: score, threshold, anomalous. PATH is a file, a folder (read recursively,
symbolic links followed) or a quoted glob (* within a name, ** across folders); PNG and JPEG.
  --profile    a station profile (profiles/<station>.safetensors in a service's state dir)
  --station    with --state-dir: that station's profile in force
  --model      the CLIP checkpoint folder the profile was enrolled with (default: $ADP_MODEL_DIR, else
               models/<the profile's model id>); its checksum must match the profile's
  --json       one JSON object per line: {"image", "score", "threshold", "anomalous"}
  --report     also write all verdicts as CSV or JSON (by the file's extension)
  --maps       write each image's heat map over it as DIR/<name>.png
  --batch      images per model run (default 8)
Exit code 0 whatever the verdicts; 2 for a usage mistake, 5 for an image that cannot be decoded,
9 for an invalid profile (adp --help lists all codes).`,
  flags: {
    profile: { type: "string" },
    station: { type: "string" },
    "state-dir": { type: "string" },
    images: { type: "string", multiple: true },
    model: { type: "string" },
    device: { type: "string" },
    json: { type: "boolean" },
    report: { type: "string" },
    maps: { type: "string" },
    batch: { type: "string" },
  },
  positionals: true,
  async run(args) {
    const profile = await loadProfile(profilePath(args));
    const paths = [...((args.values.images as string[] | undefined) ?? []), ...args.positionals];
    if (!paths.length) throw new UsageError("Missing --images PATH… (see adp score --help)");
    const images = await collectImages(paths);
    if (!images.length) throw new UsageError(`No PNG or JPEG images under ${paths.join(", ")}`);
    const device = choiceFlag<Device>(args, "device", DEVICES, "auto");
    const batch = intFlag(args, "batch", 8, [1, 256]);
    const clip = await loadClip(modelDir(args, profile), { device, log: (line) => console.error(line) });
    try {
      const scorer = createScorer(clip, profile);
      const verdicts: ImageVerdict[] = [];
      for (let at = 0; at < images.length; at += batch) {
        const files = images.slice(at, at + batch);
        const bytes = await Promise.all(files.map((f) => Deno.readFile(f)));
        const scores = await scorer.score(bytes);
        for (const [i, s] of scores.entries()) {
          const verdict = { image: files[i], score: s.score, threshold: s.threshold, anomalous: s.anomalous };
          verdicts.push(verdict);
          console.log(args.values.json ? JSON.stringify(verdict) : formatVerdict(verdict));
          if (args.values.maps) await writeMap(args.values.maps as string, files[i], bytes[i], s);
        }
      }
      if (args.values.report) await writeReport(args.values.report as string, verdicts);
      if (!args.values.json) console.error(summaryLine(verdicts));
    } finally {
      await clip.dispose();
    }
  },
};

function profilePath(args: ParsedArgs): string {
  const file = args.values.profile as string | undefined;
  const station = args.values.station as string | undefined;
  if (file !== undefined && station !== undefined) {
    throw new UsageError("Give --profile or --station, not both");
  }
  if (file !== undefined) return file;
  const stateDir = args.values["state-dir"] as string | undefined;
  if (station === undefined || stateDir === undefined) {
    throw new UsageError(
      "Missing --profile FILE, or --station S with --state-dir DIR (see adp score --help)",
    );
  }
  return join(stateDir, "profiles", `${station}.safetensors`);
}

/** The model folder: the flag, $ADP_MODEL_DIR, or models/<id> as `adp models pull` and `tiny` write it. */
function modelDir(args: ParsedArgs, profile: StationProfile): string {
  const flag = (args.values.model as string | undefined) ?? Deno.env.get("ADP_MODEL_DIR");
  return flag ?? join("models", profile.meta.model.id);
}

function formatVerdict(v: ImageVerdict): string {
  return `${v.anomalous ? "ANOMALOUS" : "ok       "}  ${v.score.toFixed(3).padStart(8)}  (threshold ${
    v.threshold.toFixed(3)
  })  ${v.image}`;
}

function summaryLine(verdicts: readonly ImageVerdict[]): string {
  const flagged = verdicts.filter((v) => v.anomalous).length;
  return `${verdicts.length} images scored, ${flagged} anomalous`;
}

async function writeMap(dir: string, file: string, bytes: Uint8Array, s: FrameScore): Promise<void> {
  const frame = await decodeImage(bytes);
  const overlay = renderOverlay(frame, s.map, { width: s.mapWidth, height: s.mapHeight });
  const image = new Image(overlay.width, overlay.height);
  image.bitmap.set(overlay.rgba);
  await Deno.mkdir(dir, { recursive: true });
  const name = `${basename(dirname(resolve(file)))}_${basename(file, extname(file))}.png`;
  await Deno.writeFile(join(dir, name), await image.encode(1));
}

async function writeReport(file: string, verdicts: readonly ImageVerdict[]): Promise<void> {
  const text = extname(file).toLowerCase() === ".csv"
    ? [
      "image,score,threshold,anomalous",
      ...verdicts.map((v) => `${csvField(v.image)},${v.score},${v.threshold},${v.anomalous}`),
    ]
      .join("\n") + "\n"
    : JSON.stringify(verdicts, null, 2) + "\n";
  await Deno.writeTextFile(file, text);
}

function csvField(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
