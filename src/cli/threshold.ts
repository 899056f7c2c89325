/**
 * `adp threshold get|set`: a station's decision threshold, read from the profile in force or changed
 * on the service (which saves the profile and scores with the new threshold at once).
 *
 * @module
 */
import { Endpoint, type ThresholdSetReply } from "../stream/mod.ts";
import type { ProfileMeta } from "../adp/mod.ts";
import { type Command, requireString, UsageError } from "./_command.ts";
import { NATS_FLAGS, NATS_USAGE } from "./_nats.ts";
import { askService, printReply } from "./_service_command.ts";

/** `adp threshold get` */
export const thresholdGet: Command = {
  name: "threshold get",
  summary: "print a station's threshold in force",
  usage: `
adp threshold get --station S [--json]

Asks the service (adp.svc.profiles.get) for the station's profile and prints its threshold, in the
units of the scores (a frame is anomalous when its score reaches it).${NATS_USAGE}`,
  flags: { ...NATS_FLAGS, station: { type: "string" }, json: { type: "boolean" } },
  async run(args) {
    const station = requireString(args, "station", this.name);
    const reply = await askService<{ station: string; meta: ProfileMeta }>(
      args,
      this.name,
      Endpoint.profilesGet,
      { station },
    );
    const out = { station, threshold: reply.meta.threshold, profileVersion: reply.meta.version };
    printReply(args, out, (r) => `${r.station}: threshold ${r.threshold} (profile v${r.profileVersion})`);
  },
};

/** `adp threshold set` */
export const thresholdSet: Command = {
  name: "threshold set",
  summary: "change a station's threshold on the service (saved in its profile)",
  usage: `
adp threshold set --station S --threshold X [--json]

Sends adp.svc.threshold.set; the service saves the profile and scores with X from the next frame.
X is in the units of the scores (normal parts score near 0).${NATS_USAGE}`,
  flags: {
    ...NATS_FLAGS,
    station: { type: "string" },
    threshold: { type: "string" },
    json: { type: "boolean" },
  },
  async run(args) {
    const station = requireString(args, "station", this.name);
    const text = requireString(args, "threshold", this.name);
    const threshold = Number(text);
    if (!Number.isFinite(threshold)) throw new UsageError(`--threshold must be a finite number: got ${text}`);
    const reply = await askService<ThresholdSetReply>(args, this.name, Endpoint.thresholdSet, {
      station,
      threshold,
    });
    printReply(
      args,
      reply,
      (r) => `${r.station}: threshold ${r.previous} → ${r.threshold} (profile v${r.profileVersion})`,
    );
  },
};
