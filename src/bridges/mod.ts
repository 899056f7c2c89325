/**
 * Plant connectivity out of the bus: the bridge runtime (results folded into station states, a
 * watchdog and heartbeat), an OPC UA server, a Modbus TCP server, and a webhook poster for anomaly
 * events; `adp bridge` runs them (one, or several from a config file).
 *
 * @example An OPC UA server and a Modbus server for one station
 * ```ts ignore
 * import { defaultModbusMap, startBridgeRuntime, startModbusBridge, startOpcuaBridge } from "./mod.ts";
 * const runtime = await startBridgeRuntime(nc, { stations: ["line-1"] });
 * const opcua = await startOpcuaBridge(runtime, { port: 4840 });
 * const modbus = await startModbusBridge(runtime, { port: 502, map: defaultModbusMap(["line-1"]) });
 * ```
 *
 * @module
 */
export { startBridgeRuntime } from "./runtime.ts";
export type { BridgeRuntime, BridgeRuntimeOptions, BridgeSink, ChainHealth } from "./runtime.ts";
export { applyResult, emptyStationState } from "./station_state.ts";
export type { StationState } from "./station_state.ts";
export { DEFAULT_MIN_PUBLISHING_INTERVAL_MS, startOpcuaBridge } from "./opcua.ts";
export type { OpcuaBridge, OpcuaBridgeOptions, OpcuaUser } from "./opcua.ts";
export { startModbusBridge } from "./modbus.ts";
export type { ModbusBridge, ModbusBridgeOptions } from "./modbus.ts";
export {
  CHAIN_REGISTERS,
  defaultModbusMap,
  mapExtent,
  parseModbusMap,
  STATION_COILS,
  STATION_REGISTERS,
  StationCoil,
  StationRegister,
} from "./modbus_map.ts";
export type { ModbusMap, StationAddress } from "./modbus_map.ts";
export { startWebhookBridge } from "./webhook.ts";
export type { WebhookBridge, WebhookBridgeOptions } from "./webhook.ts";
export type { DeliveryStats } from "./_webhook_delivery.ts";
export { parseBridgeConfig } from "./config.ts";
export type { BridgeConfig } from "./config.ts";
export { startBridges } from "./run.ts";
export type { Bridges } from "./run.ts";
export { BridgeMetrics } from "./bridge_metrics.ts";
export { guardLateSocketErrors } from "./transport_guard.ts";
export { pinOpensslConf } from "./openssl_env.ts";
