/**
 * `adp profiles list|get|delete`: the station profiles the service holds.
 *
 * @module
 */
import { Endpoint, type ProfileListReply, type ProfileSummary } from "../stream/mod.ts";
import type { ProfileMeta } from "../adp/mod.ts";
import { type Command, requireString } from "./_command.ts";
import { NATS_FLAGS, NATS_USAGE } from "./_nats.ts";
import { askService, printReply } from "./_service_command.ts";

/** `adp profiles list` */
export const profilesList: Command = {
  name: "profiles list",
  summary: "list every station's profile (version, threshold, shots, model) and refused files",
  usage: `
adp profiles list [--json]

Asks adp.svc.profiles.list: one line per station with a usable profile, then the profile files the
service refused and why.${NATS_USAGE}`,
  flags: { ...NATS_FLAGS, json: { type: "boolean" } },
  async run(args) {
    const reply = await askService<ProfileListReply>(args, this.name, Endpoint.profilesList);
    printReply(args, reply, formatProfileList);
  },
};

/** `adp profiles get` */
export const profilesGet: Command = {
  name: "profiles get",
  summary: "print a station profile's metadata (enrollment, calibration, fusion, patch settings)",
  usage: `
adp profiles get --station S

Prints the metadata of the station's profile in force as JSON (adp.svc.profiles.get).${NATS_USAGE}`,
  flags: { ...NATS_FLAGS, station: { type: "string" } },
  async run(args) {
    const station = requireString(args, "station", this.name);
    const reply = await askService<{ station: string; meta: ProfileMeta }>(
      args,
      this.name,
      Endpoint.profilesGet,
      { station },
    );
    console.log(JSON.stringify(reply, null, 2));
  },
};

/** `adp profiles delete` */
export const profilesDelete: Command = {
  name: "profiles delete",
  summary: "delete a station's profile (its frames are then answered no-profile)",
  usage: `
adp profiles delete --station S [--json]

Sends adp.svc.profiles.delete: the service removes the profile here and, with JetStream, in the
shared bucket.${NATS_USAGE}`,
  flags: { ...NATS_FLAGS, station: { type: "string" }, json: { type: "boolean" } },
  async run(args) {
    const station = requireString(args, "station", this.name);
    const reply = await askService<{ station: string; deleted: true; version: number | null }>(
      args,
      this.name,
      Endpoint.profilesDelete,
      { station },
    );
    printReply(
      args,
      reply,
      (r) => `${r.station}: profile${r.version === null ? "" : ` v${r.version}`} deleted`,
    );
  },
};

/** The list as aligned lines. */
export function formatProfileList(reply: ProfileListReply): string {
  const row = (p: ProfileSummary) =>
    `${p.station.padEnd(20)} v${String(p.version).padEnd(4)} threshold ${
      p.threshold.toFixed(3).padStart(8)
    }  ` +
    `${p.shots} shots  ${p.model.id}  ${p.createdAt}${p.label ? `  ${p.label}` : ""}`;
  const lines = reply.profiles.length ? reply.profiles.map(row) : ["(no profiles)"];
  for (const r of reply.refused) lines.push(`refused ${r.station}: ${r.error}`);
  return lines.join("\n");
}
