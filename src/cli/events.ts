/**
 * `adp events`: follows results and anomaly events of one station or all, one readable line each.
 *
 * @module
 */
import {
  type AnomalyMessage,
  decodeAnomaly,
  decodeResult,
  eventSubjects,
  type ResultMessage,
} from "../stream/mod.ts";
import { type Command, UsageError } from "./_command.ts";
import { connectFromFlags, NATS_FLAGS, NATS_USAGE } from "./_nats.ts";

/** `adp events` */
export const events: Command = {
  name: "events",
  summary: "follow results and anomaly events, one line each",
  usage: `
adp events [--station S|'*'] [--json] [--count N] [--anomalies-only]

Follows adp.results.<station> and adp.anomalies.<station> (all stations with '*', the default),
printing one line per message until Ctrl-C.
  --json            print the messages as they are (one JSON object a line)
  --count           stop after this many messages
  --anomalies-only  skip results${NATS_USAGE}`,
  flags: {
    ...NATS_FLAGS,
    station: { type: "string" },
    json: { type: "boolean" },
    count: { type: "string" },
    "anomalies-only": { type: "boolean" },
  },
  async run(args) {
    const station = (args.values.station as string | undefined) ?? "*";
    const subjects = eventSubjects(station);
    const count = args.values.count === undefined ? Infinity : Number(args.values.count);
    if (!(count === Infinity || (Number.isInteger(count) && count > 0))) {
      throw new UsageError(`--count must be a positive integer: got ${args.values.count}`);
    }
    const nc = await connectFromFlags(args, { name: "adp events" });
    const subs = [
      ...(args.values["anomalies-only"] ? [] : [nc.subscribe(subjects.results)]),
      nc.subscribe(subjects.anomalies),
    ];
    let seen = 0;
    const stop = () => subs.forEach((s) => s.unsubscribe());
    Deno.addSignalListener("SIGINT", stop);
    try {
      console.error(`following ${subs.map((s) => s.getSubject()).join(" and ")} (Ctrl-C stops)`);
      await Promise.all(subs.map(async (sub) => {
        const anomalies = sub.getSubject() === subjects.anomalies;
        for await (const msg of sub) {
          if (seen >= count) break;
          seen++;
          try {
            if (args.values.json) console.log(msg.string());
            else {console.log(
                anomalies ? formatAnomaly(decodeAnomaly(msg.data)) : formatResult(decodeResult(msg.data)),
              );}
          } catch (error) {
            console.log(`${msg.subject}: unreadable message: ${(error as Error).message}`);
          }
          if (seen >= count) stop();
        }
      }));
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
      await nc.close();
    }
  },
};

function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d.toTimeString().slice(0, 8) + `.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

function head(m: ResultMessage): string {
  return `${clock(m.scoredAt)}  ${m.station.padEnd(12)} ${m.frameId.padEnd(20)}`;
}

/** One line for a result. */
export function formatResult(m: ResultMessage): string {
  if (m.error !== undefined || m.score === null) {
    return `${head(m)} ERROR     ${m.reason ?? "error"}: ${m.error ?? "not scored"}`;
  }
  const verdict = m.anomalous ? "ANOMALOUS" : "ok       ";
  const cmp = m.anomalous ? "≥" : "<";
  return `${head(m)} ${verdict} score ${fixed(m.score)} ${cmp} ${fixed(m.threshold)}  v${m.profileVersion}  ${
    m.latencyMs.toFixed(1)
  } ms`;
}

/** One line for an anomaly event. */
export function formatAnomaly(m: AnomalyMessage): string {
  const r = m.map.regions[0];
  const where = r ? `, hottest region ${r.width}×${r.height} at (${r.x}, ${r.y})` : "";
  const heatmap = m.heatmap
    ? `heat map ${m.heatmap.store === "object-store" ? `${m.heatmap.bucket}:` : ""}${m.heatmap.key}`
    : `no heat map (${m.heatmapError ?? "none"})`;
  return `${head(m)} ANOMALY   score ${fixed(m.score)} ≥ ${
    fixed(m.threshold)
  }  ${m.map.regions.length} region(s)${where}; ${heatmap}`;
}

function fixed(v: number | null): string {
  return v === null ? "-" : v.toFixed(2).padStart(6);
}
