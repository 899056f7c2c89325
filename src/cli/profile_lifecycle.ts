/**
 * `adp profiles history|rollback|export|import`: a station's kept profile versions, putting one
 * back in force, and moving profile files between services (or into version control).
 *
 * @module
 */
import {
  Endpoint,
  exportProfile,
  importProfile,
  type ProfileHistoryEntry,
  type ProfileHistoryReply,
  type RollbackReply,
} from "../stream/mod.ts";
import { type Command, intFlag, requireString } from "./_command.ts";
import { NATS_FLAGS, NATS_USAGE } from "./_nats.ts";
import { askService, printReply, withServiceConnection } from "./_service_command.ts";

const WHO_USAGE = `
  --by       who makes the change, for the history (default $USER)
  --note     why, for the history`;

/** `adp profiles history` */
export const profilesHistory: Command = {
  name: "profiles history",
  summary: "list a station's kept profile versions, newest first, and which one is in force",
  usage: `
adp profiles history --station S [--json]

Asks adp.svc.profiles.history: every kept version of the station's profile (adp serve
--profile-history, default 20), newest first, with what made it (enrollment, threshold, feedback,
import, roi), when and by whom, its calibration figures, whether it is in force, and the rollbacks
that put it back. --json prints the versions as a JSON array.${NATS_USAGE}`,
  flags: { ...NATS_FLAGS, station: { type: "string" }, json: { type: "boolean" } },
  async run(args) {
    const station = requireString(args, "station", this.name);
    const reply = await askService<ProfileHistoryReply>(args, this.name, Endpoint.profilesHistory, {
      station,
    });
    printReply(args, reply.versions, (versions) => formatHistory(station, versions));
  },
};

/** `adp profiles rollback` */
export const profilesRollback: Command = {
  name: "profiles rollback",
  summary: "put a kept profile version back in force (hot-swapped; results then carry that version)",
  usage: `
adp profiles rollback --station S --version N [--by NAME] [--note TEXT] [--json]

Sends adp.svc.profiles.rollback; exits 0 once version N is in force: frames scored from then on
carry profileVersion N. The next change of the station (enrollment, threshold, feedback, import)
gets a new number, above every version ever made, never N + 1 when that exists.${WHO_USAGE}${NATS_USAGE}`,
  flags: { ...NATS_FLAGS, ...whoFlags(), station: { type: "string" }, version: { type: "string" } },
  async run(args) {
    const station = requireString(args, "station", this.name);
    requireString(args, "version", this.name);
    const version = intFlag(args, "version", 1, [1, Number.MAX_SAFE_INTEGER]);
    const reply = await askService<RollbackReply>(args, this.name, Endpoint.profilesRollback, {
      station,
      version,
      ...who(args),
    });
    printReply(
      args,
      reply,
      (r) =>
        `${r.station}: profile v${r.version} in force (was ${
          r.previous === null ? "none" : `v${r.previous}`
        })`,
    );
  },
};

/** `adp profiles export` */
export const profilesExport: Command = {
  name: "profiles export",
  summary: "save a station's profile file (the one in force or a kept version) from the service",
  usage: `
adp profiles export --station S --out FILE [--version N]

Fetches the profile file from adp.svc.profiles.export in chunks (a profile may exceed NATS's
max_payload), checks its SHA-256 and writes it to FILE.${NATS_USAGE}`,
  flags: { ...NATS_FLAGS, station: { type: "string" }, out: { type: "string" }, version: { type: "string" } },
  async run(args) {
    const station = requireString(args, "station", this.name);
    const out = requireString(args, "out", this.name);
    const asked = args.values.version === undefined
      ? undefined
      : intFlag(args, "version", 1, [1, Number.MAX_SAFE_INTEGER]);
    const { version, bytes } = await withServiceConnection(
      args,
      this.name,
      (nc) => exportProfile(nc, station, asked),
    );
    await Deno.writeFile(out, bytes);
    console.log(`${station}: profile v${version} written to ${out} (${bytes.length} bytes)`);
  },
};

/** `adp profiles import` */
export const profilesImport: Command = {
  name: "profiles import",
  summary: "put a profile file in force on a station as its next version (validated first)",
  usage: `
adp profiles import --station S --file FILE [--by NAME] [--note TEXT]

Sends FILE to adp.svc.profiles.import in chunks; the service validates it as it validates every
profile it loads (and checks it scores a frame with its model), then puts it in force as the
station's next version (history kind "import"). A refused file changes nothing; the reason is
printed and the exit code is 2.${WHO_USAGE}${NATS_USAGE}`,
  flags: { ...NATS_FLAGS, ...whoFlags(), station: { type: "string" }, file: { type: "string" } },
  async run(args) {
    const station = requireString(args, "station", this.name);
    const file = requireString(args, "file", this.name);
    const bytes = await Deno.readFile(file);
    const version = await withServiceConnection(
      args,
      this.name,
      (nc) => importProfile(nc, station, bytes, who(args)),
    );
    console.log(`${station}: ${file} imported, profile v${version} in force`);
  },
};

function whoFlags() {
  return { by: { type: "string" as const }, note: { type: "string" as const } };
}

function who(args: { values: Record<string, unknown> }): { by?: string; note?: string } {
  const by = (args.values.by as string | undefined) ?? Deno.env.get("USER");
  const note = args.values.note as string | undefined;
  return { ...(by ? { by } : {}), ...(note ? { note } : {}) };
}

/** The history as an aligned table, newest first. */
export function formatHistory(station: string, versions: ProfileHistoryEntry[]): string {
  if (!versions.length) return `${station}: no kept profile versions`;
  const rows = versions.map((v) => {
    const r = v.revision;
    const what = r ? `${r.kind}${r.fromVersion ? ` from v${r.fromVersion}` : ""}` : "-";
    const detail = [
      r?.by && `by ${r.by}`,
      r?.frameId && `frame ${r.frameId} ${r.label ?? ""}`.trim(),
      r?.note,
    ]
      .filter(Boolean).join("; ");
    const back = v.rollbacks.map((b) => `rolled back to at ${b.at}${b.by ? ` by ${b.by}` : ""}`).join("; ");
    return [
      `v${v.version}`,
      v.inForce ? "*" : "",
      v.createdAt,
      what,
      v.calibration.threshold.toFixed(3),
      v.calibration.targetFalseRejectRate === null ? "-" : String(v.calibration.targetFalseRejectRate),
      String(v.calibration.shots),
      [detail, back].filter(Boolean).join("; "),
    ];
  });
  const head = ["VERSION", "IN FORCE", "SAVED", "CHANGE", "THRESHOLD", "TARGET FRR", "SHOTS", "NOTES"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}
