/**
 * `adp status`: asks every running `adp serve` instance for its status and prints one table each.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  BusError,
  Endpoint,
  explainRequestError,
  serviceSubject,
  type StationStatus,
  type StatusReply,
} from "../stream/mod.ts";
import { type Command, intFlag } from "./_command.ts";
import { connectFromFlags, NATS_FLAGS, NATS_USAGE } from "./_nats.ts";

/** `adp status` */
export const status: Command = {
  name: "status",
  summary: "show every adp serve instance's stations: profiles, counts, drops, latency",
  usage: `
adp status [--wait-ms 500] [--json]

Requests adp.svc.status; every instance answers. Prints per instance its model and settings, and
per station the profile version and threshold, frames received, scored, anomalous and dropped (by
reason), latency p50/p99 over the last frames, and a running enrollment.
  --wait-ms  how long to gather replies (default 500)
  --json     print the replies as they are${NATS_USAGE}`,
  flags: { ...NATS_FLAGS, "wait-ms": { type: "string" }, json: { type: "boolean" } },
  async run(args) {
    const waitMs = intFlag(args, "wait-ms", 500, [10, 60_000]);
    const nc = await connectFromFlags(args, { name: "adp status" });
    try {
      const replies = await gatherStatus(nc, waitMs);
      if (args.values.json) {
        console.log(JSON.stringify(replies, null, 2));
        return;
      }
      console.log(replies.map(formatStatus).join("\n\n"));
    } finally {
      await nc.close();
    }
  },
};

/**
 * Every instance's status reply, gathered for `waitMs`.
 *
 * @throws {BusError} when no instance answers
 */
export async function gatherStatus(nc: NatsConnection, waitMs: number): Promise<StatusReply[]> {
  const subject = serviceSubject(Endpoint.status);
  const replies: StatusReply[] = [];
  try {
    const iter = await nc.requestMany(subject, undefined, { strategy: "timer", maxWait: waitMs });
    for await (const msg of iter) {
      if (msg.data.length) replies.push(msg.json<StatusReply>());
    }
  } catch (error) {
    throw explainRequestError(error, subject);
  }
  if (!replies.length) throw new BusError(`No adp service answered on ${subject}: is adp serve running?`);
  return replies.sort((a, b) => a.instance.localeCompare(b.instance));
}

/** An instance's status as a heading and a table. */
export function formatStatus(s: StatusReply): string {
  const lines = [
    `instance ${s.instance}: model ${s.model.id} (sha256 ${
      s.model.hash.slice(0, 12)
    }…) on ${s.model.provider}, ` +
    `up since ${s.startedAt}`,
    `  queue group ${s.queueGroup}, JetStream ${
      s.jetstream ? "on" : "off"
    }, ${s.workers} decode worker(s), ` +
    `batches of ${s.maxBatch} within ${s.maxWaitMs} ms, ${s.enrollQueue} enrollment job(s) running or queued`,
  ];
  if (s.invalidStationFrames) {
    lines.push(`  ${s.invalidStationFrames} frame(s) on subjects naming no valid station`);
  }
  if (s.evictedStations) {
    lines.push(
      `  ${s.evictedStations} idle station(s) evicted to make room (--max-stations); profiles stay on disk`,
    );
  }
  if (s.heatmapFailures) lines.push(`  ${s.heatmapFailures} anomaly event(s) without a heat map`);
  const bus = s.busFaults;
  if (bus?.disconnects) {
    lines.push(
      `  NATS lost ${bus.disconnects} time(s); ${bus.answeredWhileDisconnected} result(s) published while down`,
    );
  }
  const header = [
    "station",
    "profile",
    "threshold",
    "received",
    "scored",
    "anomalous",
    "dropped",
    "p50 ms",
    "p99 ms",
    "enrolling",
  ];
  const rows = s.stations.map((st: StationStatus) => [
    st.station,
    st.profileVersion === null
      ? (st.profileError ? "REFUSED" : "-")
      : `v${st.profileVersion}${st.profileLoaded === false ? " (on disk)" : ""}`,
    st.threshold === null ? "-" : st.threshold.toFixed(2),
    String(st.received),
    String(st.scored),
    String(st.anomalies),
    Object.entries(st.dropped).map(([k, v]) => `${k} ${v}`).join(", ") || "0",
    st.latencyMs.p50 === null ? "-" : st.latencyMs.p50.toFixed(1),
    st.latencyMs.p99 === null ? "-" : st.latencyMs.p99.toFixed(1),
    st.enrolling ?? "-",
  ]);
  if (!rows.length) return [...lines, "  no stations seen yet"].join("\n");
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => "  " + r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  lines.push(fmt(header), ...rows.map(fmt));
  for (const st of s.stations) {
    if (st.profileError) lines.push(`  ${st.station}: profile refused: ${st.profileError}`);
  }
  return lines.join("\n");
}
