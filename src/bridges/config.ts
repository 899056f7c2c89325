/**
 * The configuration of `adp bridge --config FILE`: which bridges run together on one NATS
 * connection, sharing one runtime and watchdog. JSON, every block optional:
 *
 * ```json
 * { "stations": ["line-1", "line-2"], "staleAfterMs": 10000, "serviceCheck": true, "http": 9464,
 *   "opcua": { "port": 4840, "allowUnsecured": false, "users": [{ "user": "plc", "password": "…" }] },
 *   "modbus": { "port": 502, "map": "modbus-map.json" },
 *   "webhook": { "url": "http://alarms.local/adp", "jetstream": true, "ratePerSecond": 10, "groupMs": 0 } }
 * ```
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { isStationId } from "../stream/mod.ts";
import type { OpcuaBridgeOptions } from "./opcua.ts";
import type { WebhookBridgeOptions } from "./webhook.ts";

/** Every bridge of one process. */
export interface BridgeConfig {
  /** NATS server(s), when no --nats flag names them. */
  nats?: string;
  /** Stations shown from the start (Modbus without a map needs them). */
  stations?: string[];
  /** A station without a result for this long makes the chain unhealthy; 0 turns it off. */
  staleAfterMs?: number;
  /** Per-station override (a triggered station may rest). */
  staleAfterMsByStation?: Record<string, number>;
  /** Watch `adp serve`'s status endpoint. @default true */
  serviceCheck?: boolean;
  /** Heartbeat period. @default 1000 */
  heartbeatMs?: number;
  /** Port of the /healthz and /metrics endpoint. */
  http?: number;
  opcua?: Omit<OpcuaBridgeOptions, "log">;
  /** `map` is a file path, relative to the config file. */
  modbus?: { port: number; host?: string; map?: string };
  webhook?: Omit<WebhookBridgeOptions, "log">;
}

const TOP_FIELDS = [
  "stations",
  "staleAfterMs",
  "staleAfterMsByStation",
  "serviceCheck",
  "heartbeatMs",
  "http",
  "opcua",
  "modbus",
  "webhook",
  "nats",
];

/**
 * Parses and checks a bridge configuration.
 *
 * @param text the file's JSON
 * @param file its path (relative paths inside resolve against its folder)
 * @returns the configuration
 * @throws {ConfigError} naming the wrong field
 *
 * @example
 * ```ts
 * import { strictEqual, throws } from "node:assert/strict";
 * import { parseBridgeConfig } from "./config.ts";
 * strictEqual(parseBridgeConfig('{"opcua": {"port": 4840}}').opcua?.port, 4840);
 * throws(() => parseBridgeConfig('{"opcua": {}}'), /opcua.port must be/);
 * ```
 */
export function parseBridgeConfig(text: string, file = "bridge.json"): BridgeConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Bridge config ${file} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(`Bridge config ${file} must be a JSON object`);
  }
  const unknown = Object.keys(raw).filter((k) => !TOP_FIELDS.includes(k));
  if (unknown.length) {
    throw new ConfigError(
      `Bridge config ${file} has unknown field(s) ${unknown.join(", ")}: allowed are ${
        TOP_FIELDS.join(", ")
      }`,
    );
  }
  const cfg = raw as BridgeConfig;
  if (cfg.stations !== undefined && (!Array.isArray(cfg.stations) || !cfg.stations.every(isStationId))) {
    throw new ConfigError(`Bridge config ${file}: stations must be a list of station ids`);
  }
  for (const [name, block] of [["opcua", cfg.opcua], ["modbus", cfg.modbus]] as const) {
    if (block !== undefined) port(block.port, `${name}.port`, file);
  }
  if (cfg.http !== undefined) port(cfg.http, "http", file);
  if (cfg.webhook !== undefined && !/^https?:\/\//.test(String(cfg.webhook.url))) {
    throw new ConfigError(`Bridge config ${file}: webhook.url must be an http:// or https:// URL`);
  }
  if (cfg.modbus?.map !== undefined) cfg.modbus.map = resolve(dirname(file), cfg.modbus.map);
  if (!cfg.opcua && !cfg.modbus && !cfg.webhook) {
    throw new ConfigError(`Bridge config ${file} names no bridge: add an opcua, modbus or webhook block`);
  }
  return cfg;
}

function port(v: unknown, what: string, file: string): void {
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 65535) {
    throw new ConfigError(
      `Bridge config ${file}: ${what} must be a port number (0–65535): got ${JSON.stringify(v)}`,
    );
  }
}
