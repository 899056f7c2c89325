/**
 * The Modbus register map of `adp bridge modbus --map FILE`: where each station's verdict and
 * counters live, and where the chain's heartbeat is. The file is JSON:
 *
 * ```json
 * { "unitId": 1, "chain": { "coil": 0, "register": 0 },
 *   "stations": { "line-1": { "coil": 8, "register": 16 }, "line-2": { "coil": 16, "register": 32 } } }
 * ```
 *
 * Coils (also readable as discrete inputs), from a station's `coil`:
 * +0 verdict (1 = anomalous: reject; also 1 when the last frame could not be scored),
 * +1 valid (the last result carried a verdict), +2 healthy (chain up and the station's results fresh),
 * +3 acknowledged (the PLC writes 1 to acknowledge the last anomaly).
 * Holding registers (also readable as input registers), from a station's `register`:
 * +0 score × 1000 (signed 16 bits, clamped), +1 threshold × 1000 (signed), +2 frame counter (results
 * received, wrapping at 65536: a change means a new verdict), +3/+4 frames scored (32 bits, high word
 * first), +5/+6 frames anomalous (32 bits), +7 profile version, +8 heartbeat, +9 status bits.
 * The chain's coil is 1 while the chain is healthy; its registers are +0 heartbeat (advances once a
 * second while the chain is healthy, frozen otherwise) and +1 status bits (bit 0 healthy, 1 NATS
 * connected, 2 service answering, 3 every station fresh; a station's bits add 4 its own freshness
 * and 5 valid).
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { isStationId } from "../stream/mod.ts";

/** Coils per station. */
export const STATION_COILS = 4;
/** Registers per station. */
export const STATION_REGISTERS = 10;
/** Registers of the chain. */
export const CHAIN_REGISTERS = 2;

/** Offsets of a station's coils. */
export const StationCoil = { verdict: 0, valid: 1, healthy: 2, acknowledged: 3 } as const;
/** Offsets of a station's holding registers. */
export const StationRegister = {
  score: 0,
  threshold: 1,
  frameCounter: 2,
  framesScored: 3,
  framesAnomalous: 5,
  profileVersion: 7,
  heartbeat: 8,
  status: 9,
} as const;

/** Where one station's block starts. */
export interface StationAddress {
  coil: number;
  register: number;
}

/** A whole register map. */
export interface ModbusMap {
  unitId: number;
  chain: StationAddress;
  stations: Record<string, StationAddress>;
}

/**
 * The map used without a file: the chain at 0, then station i (0-based) at coil 8·(i+1) and
 * register 16·(i+1).
 *
 * @param stations station ids in order
 * @returns the map
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { defaultModbusMap } from "./modbus_map.ts";
 * deepStrictEqual(defaultModbusMap(["a"]).stations.a, { coil: 8, register: 16 });
 * ```
 */
export function defaultModbusMap(stations: string[]): ModbusMap {
  return {
    unitId: 1,
    chain: { coil: 0, register: 0 },
    stations: Object.fromEntries(stations.map((s, i) => [s, { coil: 8 * (i + 1), register: 16 * (i + 1) }])),
  };
}

/**
 * Checks a map read from a file: addresses in range, blocks that do not overlap.
 *
 * @param text the file's JSON text
 * @param file its name, for messages
 * @returns the map
 * @throws {ConfigError} naming what is wrong
 */
export function parseModbusMap(text: string, file = "map"): ModbusMap {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Modbus map ${file} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const f = raw as Partial<Record<keyof ModbusMap, unknown>>;
  if (!f || typeof f !== "object" || !f.stations || typeof f.stations !== "object") {
    throw new ConfigError(`Modbus map ${file} must be an object with a "stations" object`);
  }
  const unitId = f.unitId ?? 1;
  if (!Number.isInteger(unitId) || (unitId as number) < 0 || (unitId as number) > 255) {
    throw new ConfigError(`Modbus map ${file}: unitId must be an integer from 0 to 255`);
  }
  const map: ModbusMap = {
    unitId: unitId as number,
    chain: address(f.chain ?? { coil: 0, register: 0 }, `${file}: chain`),
    stations: {},
  };
  for (const [station, a] of Object.entries(f.stations as Record<string, unknown>)) {
    if (!isStationId(station)) {
      throw new ConfigError(`Modbus map ${file}: ${JSON.stringify(station)} is no station id`);
    }
    map.stations[station] = address(a, `${file}: station ${station}`);
  }
  checkOverlaps(map, file);
  return map;
}

function address(a: unknown, what: string): StationAddress {
  const f = a as Partial<StationAddress> | null;
  const ok = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < 60000;
  if (!f || typeof f !== "object" || !ok(f.coil) || !ok(f.register)) {
    throw new ConfigError(`Modbus map ${what} needs integer "coil" and "register" from 0 to 59999`);
  }
  return { coil: f.coil!, register: f.register! };
}

function checkOverlaps(map: ModbusMap, file: string): void {
  const blocks = [
    {
      name: "chain",
      coil: map.chain.coil,
      coils: 1,
      register: map.chain.register,
      registers: CHAIN_REGISTERS,
    },
    ...Object.entries(map.stations).map(([name, a]) => ({
      name,
      ...a,
      coils: STATION_COILS,
      registers: STATION_REGISTERS,
    })),
  ];
  for (let i = 0; i < blocks.length; i++) {
    for (let j = i + 1; j < blocks.length; j++) {
      const a = blocks[i], b = blocks[j];
      const coils = a.coil < b.coil + b.coils && b.coil < a.coil + a.coils;
      const regs = a.register < b.register + b.registers && b.register < a.register + a.registers;
      if (coils || regs) {
        throw new ConfigError(
          `Modbus map ${file}: ${a.name} and ${b.name} overlap in their ${coils ? "coils" : "registers"}`,
        );
      }
    }
  }
}

/** How many coils and registers a map spans. */
export function mapExtent(map: ModbusMap): { coils: number; registers: number } {
  let coils = map.chain.coil + 1, registers = map.chain.register + CHAIN_REGISTERS;
  for (const a of Object.values(map.stations)) {
    coils = Math.max(coils, a.coil + STATION_COILS);
    registers = Math.max(registers, a.register + STATION_REGISTERS);
  }
  return { coils, registers };
}
