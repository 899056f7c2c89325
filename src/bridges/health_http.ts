/**
 * The bridges' HTTP endpoint: `/healthz` (200 while the chain is healthy, 503 with the reason
 * otherwise) and `/metrics` (Prometheus text: heartbeat, chain state, per-station counters, webhook
 * deliveries).
 *
 * @module
 */
import type { BridgeRuntime } from "./runtime.ts";
import type { DeliveryStats } from "./_webhook_delivery.ts";

/**
 * Serves `/healthz` and `/metrics` on `port` (127.0.0.1 unless `hostname` says otherwise).
 *
 * @param runtime where health and stations come from
 * @param opts port, host, and the webhook's counters when one runs
 * @returns the HTTP server (shut it down on stop)
 */
export function serveBridgeHttp(
  runtime: BridgeRuntime,
  opts: { port: number; hostname?: string; webhook?: () => DeliveryStats },
): Deno.HttpServer {
  return Deno.serve(
    { port: opts.port, hostname: opts.hostname ?? "127.0.0.1", onListen: () => {} },
    (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/healthz") {
        const h = runtime.health();
        return Response.json(h, { status: h.healthy ? 200 : 503 });
      }
      if (path === "/metrics") {
        return new Response(metrics(runtime, opts.webhook?.()), {
          headers: { "content-type": "text/plain; version=0.0.4" },
        });
      }
      return new Response("not found: try /healthz or /metrics\n", { status: 404 });
    },
  );
}

function metrics(runtime: BridgeRuntime, webhook: DeliveryStats | undefined): string {
  const h = runtime.health();
  const lines = [
    "# HELP adp_bridge_chain_healthy 1 while NATS, the service and every station's results are fine.",
    "# TYPE adp_bridge_chain_healthy gauge",
    `adp_bridge_chain_healthy ${h.healthy ? 1 : 0}`,
    `adp_bridge_nats_connected ${h.natsConnected ? 1 : 0}`,
    `adp_bridge_service_up ${h.serviceUp ? 1 : 0}`,
    "# TYPE adp_bridge_station_frames_total counter",
  ];
  for (const s of runtime.stations()) {
    const l = `station="${s.station}"`;
    lines.push(
      `adp_bridge_station_frames_total{${l},kind="seen"} ${s.framesSeen}`,
      `adp_bridge_station_frames_total{${l},kind="scored"} ${s.framesScored}`,
      `adp_bridge_station_frames_total{${l},kind="anomalous"} ${s.framesAnomalous}`,
      `adp_bridge_station_frames_total{${l},kind="failed"} ${s.framesFailed}`,
      `adp_bridge_station_anomalous{${l}} ${s.anomalous ? 1 : 0}`,
    );
  }
  if (webhook) {
    lines.push("# TYPE adp_bridge_webhook_events_total counter");
    for (const [k, v] of Object.entries(webhook)) {
      lines.push(`adp_bridge_webhook_events_total{kind="${k}"} ${v}`);
    }
  }
  return lines.join("\n") + "\n";
}
