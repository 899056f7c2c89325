/**
 * The bridges' Prometheus metrics, read from the runtime at scrape time: the chain's health, each
 * station's frame counters and verdict, and the webhook's deliveries. Served by the same endpoint as
 * `adp serve`'s (`startOpsServer` in src/ops: `/metrics`, `/healthz`, `/readyz`).
 *
 * @module
 */
import client from "prom-client";
import type { DeliveryStats } from "./_webhook_delivery.ts";
import type { BridgeRuntime } from "./runtime.ts";

/** A registry of the bridges' metrics, with prom-client's process metrics prefixed `adp_`. */
export class BridgeMetrics {
  /** The prom-client registry. */
  readonly registry: client.Registry = new client.Registry();

  /**
   * @param runtime where health and stations are read
   * @param webhook the webhook's counters, when one runs
   */
  constructor(runtime: BridgeRuntime, webhook?: () => DeliveryStats) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: "adp_" });
    const health = (name: string, help: string, up: () => boolean) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(up() ? 1 : 0);
        },
      });
    health(
      "adp_bridge_chain_healthy",
      "1 while NATS, the service and every station's results are fine",
      () => runtime.health().healthy,
    );
    health(
      "adp_bridge_nats_connected",
      "1 while the bridge is connected to NATS",
      () => runtime.health().natsConnected,
    );
    health(
      "adp_bridge_service_up",
      "1 while an adp serve instance answers",
      () => runtime.health().serviceUp,
    );
    new client.Counter({
      name: "adp_bridge_station_frames_total",
      help: "Results seen per station, by kind (seen, scored, anomalous, failed)",
      labelNames: ["station", "kind"],
      registers,
      collect() {
        this.reset();
        for (const s of runtime.stations()) {
          const station = s.station;
          this.inc({ station, kind: "seen" }, s.framesSeen);
          this.inc({ station, kind: "scored" }, s.framesScored);
          this.inc({ station, kind: "anomalous" }, s.framesAnomalous);
          this.inc({ station, kind: "failed" }, s.framesFailed);
        }
      },
    });
    new client.Gauge({
      name: "adp_bridge_station_anomalous",
      help: "1 while the station's last verdict is anomalous",
      labelNames: ["station"],
      registers,
      collect() {
        this.reset();
        for (const s of runtime.stations()) this.set({ station: s.station }, s.anomalous ? 1 : 0);
      },
    });
    if (!webhook) return;
    new client.Counter({
      name: "adp_bridge_webhook_events_total",
      help: "Webhook events by kind (received, delivered, posts, failedPosts, duplicates, pending)",
      labelNames: ["kind"],
      registers,
      collect() {
        this.reset();
        for (const [kind, n] of Object.entries(webhook())) this.inc({ kind }, n);
      },
    });
  }

  /** The exposition text. */
  async metrics(): Promise<string> {
    return await this.registry.metrics();
  }

  /** Content type of {@linkcode metrics}. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
