/**
 * `adp roi set|clear|get`: a station's region of interest — include and ignore polygons in frame
 * pixels — on the service (a new profile version, in force when the command returns) or in a
 * profile file (`--profile FILE`, rewritten as the next version, for `adp score`).
 *
 * @module
 */
import { loadProfile, maskFromImage, type Polygon, type RegionOfInterest, saveProfile } from "../adp/mod.ts";
import { decodeImage } from "../image/mod.ts";
import {
  Endpoint,
  profileWithRoi,
  type RoiSetReply,
  roiSetReply,
  type RoiSetRequest,
} from "../stream/mod.ts";
import type { ProfileMeta } from "../adp/mod.ts";
import { type Command, type FlagSpec, type ParsedArgs, requireString, UsageError } from "./_command.ts";
import { NATS_FLAGS, NATS_USAGE } from "./_nats.ts";
import { askService, printReply } from "./_service_command.ts";

const TARGET_FLAGS: FlagSpec = {
  ...NATS_FLAGS,
  station: { type: "string" },
  profile: { type: "string" },
  json: { type: "boolean" },
};

const TARGET_USAGE = `
  --station S        the station, on the service (adp.svc.roi.set / adp.svc.profiles.get)
  --profile FILE     a profile file instead of the service (rewritten as its next version)
  --json             print the reply as JSON`;

/**
 * Parses a polygon written as `"x,y x,y x,y …"` (frame pixels, at least three points).
 *
 * @throws {UsageError} saying which point is malformed
 */
export function parsePolygon(text: string, flag: string): Polygon {
  const points = text.trim().split(/\s+/).filter(Boolean).map((pair, i) => {
    const parts = pair.split(",");
    const [x, y] = parts.map(Number);
    if (parts.length !== 2 || !Number.isFinite(x) || !Number.isFinite(y)) {
      throw new UsageError(`--${flag} point ${i + 1} must be x,y in frame pixels: got ${pair}`);
    }
    return [x, y] as [number, number];
  });
  if (points.length < 3) {
    throw new UsageError(
      `--${flag} must be a polygon of at least 3 points "x,y x,y x,y": got ${points.length}`,
    );
  }
  return points;
}

/** `adp roi set` */
export const roiSet: Command = {
  name: "roi set",
  summary: "set a station's region of interest: include and ignore polygons (a new profile version)",
  usage: `
adp roi set (--station S | --profile FILE) [--include "x,y x,y x,y …"]… [--ignore "x,y x,y x,y …"]…
            [--mask FILE.png] [--by NAME] [--note TEXT] [--json]

Polygons are in frame pixels (x right, y down). Only what lies inside an --include polygon is
inspected (none: the whole frame); nothing inside an --ignore polygon is; with --mask, only the
mask's bright pixels are (an image the frame's size: white inspected, black ignored). A patch or map
pixel is inside when its centre is. Excluded patches never set the image score, and the heat map is 0 there.
The region replaces the one in force; the threshold is kept (a region only lowers scores).
${TARGET_USAGE}
  --include P        an inspected polygon (repeat for several)
  --ignore P         an ignored polygon (repeat for several)
  --mask FILE        a PNG or JPEG the frame's size: pixels of luma ≥ 128 are inspected
  --by NAME          who changes it (recorded in the profile's revision)
  --note TEXT        why (recorded too)${NATS_USAGE}`,
  flags: {
    ...TARGET_FLAGS,
    include: { type: "string", multiple: true },
    ignore: { type: "string", multiple: true },
    mask: { type: "string" },
    by: { type: "string" },
    note: { type: "string" },
  },
  async run(args) {
    const region: RegionOfInterest = {};
    for (const key of ["include", "ignore"] as const) {
      const texts = (args.values[key] ?? []) as string[];
      if (texts.length) region[key] = texts.map((t) => parsePolygon(t, key));
    }
    if (typeof args.values.mask === "string") {
      region.mask = maskFromImage(await decodeImage(await Deno.readFile(args.values.mask)));
    }
    if (!region.include && !region.ignore && !region.mask) {
      throw new UsageError(
        `Give --include or --ignore polygons, or a --mask (adp roi clear removes the region)`,
      );
    }
    await changeRoi(args, this.name, region);
  },
};

/** `adp roi clear` */
export const roiClear: Command = {
  name: "roi clear",
  summary: "remove a station's region of interest: the whole frame is inspected again",
  usage: `
adp roi clear (--station S | --profile FILE) [--by NAME] [--note TEXT] [--json]

Makes a new profile version without a region.${TARGET_USAGE}${NATS_USAGE}`,
  flags: { ...TARGET_FLAGS, by: { type: "string" }, note: { type: "string" } },
  async run(args) {
    await changeRoi(args, this.name, {});
  },
};

/** `adp roi get` */
export const roiGet: Command = {
  name: "roi get",
  summary: "print a station's region of interest",
  usage: `
adp roi get (--station S | --profile FILE) [--json]

Prints the include and ignore polygons of the profile in force (or of the file).${TARGET_USAGE}${NATS_USAGE}`,
  flags: TARGET_FLAGS,
  async run(args) {
    const meta = await readMeta(args, this.name);
    const out = { station: meta.station ?? null, roi: meta.roi ?? null, profileVersion: meta.version };
    printReply(args, out, (r) => `${r.station ?? "profile"} v${r.profileVersion}: ${describeRoi(r.roi)}`);
  },
};

/** Sends the region to the service, or rewrites the profile file. */
async function changeRoi(args: ParsedArgs, name: string, region: RegionOfInterest): Promise<void> {
  const file = target(args, name);
  const extra = {
    ...(typeof args.values.by === "string" ? { by: args.values.by } : {}),
    ...(typeof args.values.note === "string" ? { note: args.values.note } : {}),
  };
  let reply: RoiSetReply;
  if (file) {
    const current = await loadProfile(file);
    const next = profileWithRoi(current, { station: current.meta.station ?? "profile", ...region, ...extra });
    await saveProfile(file, next);
    reply = roiSetReply(current.meta.station ?? file, current, next);
  } else {
    const station = requireString(args, "station", name);
    const body: RoiSetRequest = { station, ...region, ...extra };
    reply = await askService<RoiSetReply>(args, name, Endpoint.roiSet, body);
  }
  printReply(
    args,
    reply,
    (r) => `${r.station}: ${describeRoi(r.roi)} (profile v${r.previousVersion} → v${r.profileVersion})`,
  );
}

async function readMeta(args: ParsedArgs, name: string): Promise<ProfileMeta> {
  const file = target(args, name);
  if (file) return (await loadProfile(file)).meta;
  const station = requireString(args, "station", name);
  const reply = await askService<{ station: string; meta: ProfileMeta }>(args, name, Endpoint.profilesGet, {
    station,
  });
  return reply.meta;
}

/** The profile file named, or undefined for the service; refuses both or neither. */
function target(args: ParsedArgs, name: string): string | undefined {
  const { station, profile } = args.values;
  if (station !== undefined && profile !== undefined) {
    throw new UsageError(`Give --station or --profile, not both (see adp ${name} --help)`);
  }
  if (profile !== undefined) return requireString(args, "profile", name);
  requireString(args, "station", name);
  return undefined;
}

function describeRoi(roi: RegionOfInterest | null): string {
  if (!roi) return "the whole frame is inspected";
  const count = (list: Polygon[] | undefined, what: string) =>
    list?.length ? `${list.length} ${what} polygon${list.length > 1 ? "s" : ""}` : undefined;
  const mask = roi.mask && `a ${roi.mask.width}×${roi.mask.height} mask`;
  return [count(roi.include, "include"), count(roi.ignore, "ignore"), mask].filter(Boolean).join(", ");
}
