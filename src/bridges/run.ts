/**
 * Starts the bridges a {@linkcode BridgeConfig} names on one NATS connection: one runtime and
 * watchdog, then the OPC UA server, the Modbus server, the webhook poster and the HTTP endpoint.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { BridgeConfig } from "./config.ts";
import { type BridgeRuntime, startBridgeRuntime } from "./runtime.ts";
import { type OpcuaBridge, startOpcuaBridge } from "./opcua.ts";
import { type ModbusBridge, startModbusBridge } from "./modbus.ts";
import { defaultModbusMap, parseModbusMap } from "./modbus_map.ts";
import { startWebhookBridge, type WebhookBridge } from "./webhook.ts";
import { BridgeMetrics } from "./bridge_metrics.ts";
import { ConfigError } from "../errors.ts";
import { startOpsServer } from "../ops/mod.ts";

/** Bridges running together. */
export interface Bridges extends AsyncDisposable {
  readonly runtime: BridgeRuntime;
  readonly opcua?: OpcuaBridge;
  readonly modbus?: ModbusBridge;
  readonly webhook?: WebhookBridge;
  /** Stops every bridge (the NATS connection stays the caller's). */
  stop(): Promise<void>;
}

/**
 * Starts every bridge of `cfg`.
 *
 * @param nc the bus
 * @param cfg which bridges, with their settings
 * @param log where log lines go
 * @returns the running bridges
 * @throws {ConfigError} for a Modbus bridge with neither a map nor stations
 *
 * @example
 * ```ts ignore
 * await using bridges = await startBridges(nc, parseBridgeConfig(await Deno.readTextFile("bridge.json")));
 * ```
 */
export async function startBridges(
  nc: NatsConnection,
  cfg: BridgeConfig,
  log: (line: string) => void = (line) => console.error(line),
): Promise<Bridges> {
  const map = cfg.modbus?.map
    ? parseModbusMap(await Deno.readTextFile(cfg.modbus.map), cfg.modbus.map)
    : undefined;
  const stations = [...new Set([...(cfg.stations ?? []), ...Object.keys(map?.stations ?? {})])];
  if (cfg.modbus && !map && !stations.length) {
    throw new ConfigError("The Modbus bridge needs a register map (--map FILE) or the stations (--station)");
  }
  const runtime = await startBridgeRuntime(nc, {
    stations,
    staleAfterMs: cfg.staleAfterMs,
    staleAfterMsByStation: cfg.staleAfterMsByStation,
    serviceCheck: cfg.serviceCheck,
    heartbeatMs: cfg.heartbeatMs,
    log,
  });
  const started: { stop(): Promise<void> }[] = [];
  try {
    const opcua = cfg.opcua ? await startOpcuaBridge(runtime, { ...cfg.opcua, log }) : undefined;
    if (opcua) started.push(opcua);
    const modbus = cfg.modbus
      ? await startModbusBridge(runtime, { ...cfg.modbus, map: map ?? defaultModbusMap(stations), log })
      : undefined;
    if (modbus) started.push(modbus);
    const webhook = cfg.webhook ? await startWebhookBridge(nc, { ...cfg.webhook, log }) : undefined;
    if (webhook) started.push(webhook);
    if (cfg.http !== undefined) {
      const health = () => runtime.health();
      const http = await startOpsServer({
        listen: `127.0.0.1:${cfg.http}`,
        metrics: new BridgeMetrics(runtime, webhook ? () => webhook.stats() : undefined),
        ready: {
          nats: () => health().natsConnected,
          service: () => health().serviceUp,
          stations: () => health().staleStations.length === 0,
        },
        detail: () => health().reason,
        log,
      });
      started.push({ stop: () => http.close() });
    }
    let stopped: Promise<void> | undefined;
    const stop = () =>
      stopped ??= (async () => {
        for (const b of started.reverse()) await b.stop().catch((e) => log(`bridge: stop failed: ${e}`));
        await runtime.stop();
      })();
    return { runtime, opcua, modbus, webhook, stop, [Symbol.asyncDispose]: stop };
  } catch (error) {
    for (const b of started.reverse()) await b.stop().catch(() => {});
    await runtime.stop();
    throw error;
  }
}
