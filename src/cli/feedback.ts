/**
 * `adp feedback`: an operator's label on a scored frame, sent to the service, which teaches the
 * station (src/adp/feedback.ts) and answers once the resulting profile version is in force.
 *
 * @module
 */
import { type FeedbackReply, requestFeedback } from "../stream/mod.ts";
import { choiceFlag, type Command, intFlag, requireString } from "./_command.ts";
import { NATS_FLAGS, NATS_USAGE } from "./_nats.ts";
import { printReply, withServiceConnection } from "./_service_command.ts";

/** `adp feedback` */
export const feedback: Command = {
  name: "feedback",
  summary: "label a scored frame good or defect; the station learns from it (a new profile version)",
  usage: `
adp feedback --station S --frame ID --label good|defect [--note TEXT] [--by NAME] [--timeout S] [--json]

Sends {frameId, label} on adp.feedback.<S> and waits until the profile version the label produced is
in force. good: the part joins the normal set (its patches enter the memory, the threshold is
recalibrated with it as an unseen good part); defect: kept as a labelled example that, with enough of
both kinds, lowers the threshold within the safeguard (README, "Operator feedback"). The frame must
still be held by the service: the station's recent frames, or any flagged one.
Exit codes: 0 once the new version is in force; 2 when the service refuses (unknown frame or
station, malformed request) or a flag is wrong; 10 when no service answers.
  --station S     the station
  --frame ID      the frame's id (frameId in its result)
  --label L       good or defect
  --note TEXT     why, kept in the profile's revision
  --by NAME       who (default $USER)
  --timeout S     seconds to wait for the new version (default 30)
  --json          print the reply as JSON${NATS_USAGE}`,
  flags: {
    ...NATS_FLAGS,
    station: { type: "string" },
    frame: { type: "string" },
    label: { type: "string" },
    note: { type: "string" },
    by: { type: "string" },
    timeout: { type: "string" },
    json: { type: "boolean" },
  },
  async run(args) {
    const station = requireString(args, "station", this.name);
    const frameId = requireString(args, "frame", this.name);
    requireString(args, "label", this.name);
    const label = choiceFlag(args, "label", ["good", "defect"] as const, "good");
    const note = args.values.note as string | undefined;
    const by = (args.values.by as string | undefined) ?? Deno.env.get("USER");
    const timeoutMs = intFlag(args, "timeout", 30, [1, 3600]) * 1000;
    const reply = await withServiceConnection(
      args,
      this.name,
      (nc) =>
        requestFeedback(nc, station, {
          frameId,
          label,
          ...(note !== undefined ? { note } : {}),
          ...(by ? { by } : {}),
        }, { timeoutMs }),
    );
    printReply(
      args,
      reply,
      (r: FeedbackReply) =>
        `${r.station}: ${r.frameId} labelled ${r.label}; profile v${r.previousVersion} → v${r.profileVersion} ` +
        `in force, threshold ${r.previousThreshold.toFixed(4)} → ${r.threshold.toFixed(4)}`,
    );
  },
};
