/**
 * `adp bridge modbus`: a Modbus TCP server (jsmodbus) whose coils and registers show each station's
 * verdict, score, counters and the chain's heartbeat, laid out by a {@linkcode ModbusMap}. A PLC
 * polls them; it acknowledges an anomaly by writing 1 to the station's acknowledged coil.
 *
 * @module
 */
import net from "node:net";
import { Buffer } from "node:buffer";
import Modbus from "jsmodbus";
import type { BridgeRuntime, ChainHealth } from "./runtime.ts";
import type { StationState } from "./station_state.ts";
import { mapExtent, type ModbusMap, StationCoil, StationRegister } from "./modbus_map.ts";

/** Options of {@linkcode startModbusBridge}. */
export interface ModbusBridgeOptions {
  port: number;
  /** @default "0.0.0.0" */
  host?: string;
  map: ModbusMap;
  /** @default console.error */
  log?: (line: string) => void;
}

/** A running Modbus bridge. */
export interface ModbusBridge extends AsyncDisposable {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts a Modbus TCP server showing the runtime's stations.
 *
 * @param runtime the shared bridge runtime
 * @param opts port and register map
 * @returns the running server
 *
 * @example
 * ```ts ignore
 * await using bridge = await startModbusBridge(runtime, { port: 5020, map: defaultModbusMap(["line-1"]) });
 * ```
 */
export async function startModbusBridge(
  runtime: BridgeRuntime,
  opts: ModbusBridgeOptions,
): Promise<ModbusBridge> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const extent = mapExtent(opts.map);
  const coils = Buffer.alloc(Math.ceil(extent.coils / 8) + 1);
  const holding = Buffer.alloc(extent.registers * 2 + 2);
  const tcp = new net.Server();
  const server = new Modbus.server.TCP(tcp, { coils, discrete: coils, holding, input: holding });
  const unmapped = new Set<string>();
  let health: ChainHealth = runtime.health();
  let heartbeat = 0;
  const write = (s: StationState) => {
    const a = opts.map.stations[s.station];
    if (!a) {
      if (!unmapped.has(s.station)) log(`adp bridge modbus: station ${s.station} is not in the register map`);
      unmapped.add(s.station);
      return;
    }
    writeStation(coils, holding, a, s, health, heartbeat);
  };
  const syncAcks = () => {
    for (const [station, a] of Object.entries(opts.map.stations)) {
      const s = runtime.stations().find((x) => x.station === station);
      if (s && !s.acknowledged && getCoil(coils, a.coil + StationCoil.acknowledged)) {
        runtime.acknowledge(station);
      }
    }
  };
  server.on("postWriteSingleCoil", syncAcks);
  server.on("postWriteMultipleCoils", syncAcks);
  const removeSink = runtime.addSink({
    update: write,
    health(h, beat) {
      health = h;
      heartbeat = beat;
      setCoil(coils, opts.map.chain.coil, h.healthy);
      holding.writeUInt16BE(beat, opts.map.chain.register * 2);
      holding.writeUInt16BE(statusBits(h), (opts.map.chain.register + 1) * 2);
      for (const s of runtime.stations()) write(s);
    },
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(opts.port, opts.host ?? "0.0.0.0", () => resolve());
  }).catch((error) => {
    removeSink();
    throw error;
  });
  const port = (tcp.address() as net.AddressInfo).port;
  log(
    `adp bridge modbus: listening on ${opts.host ?? "0.0.0.0"}:${port}, ${
      Object.keys(opts.map.stations).length
    } station(s)`,
  );
  const sockets = new Set<net.Socket>();
  tcp.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= new Promise<void>((resolve) => {
      removeSink();
      for (const s of sockets) s.destroy();
      tcp.close(() => resolve());
    });
  return { port, stop, [Symbol.asyncDispose]: stop };
}

function writeStation(
  coils: Buffer,
  holding: Buffer,
  a: { coil: number; register: number },
  s: StationState,
  h: ChainHealth,
  heartbeat: number,
): void {
  const fresh = !h.staleStations.includes(s.station);
  const reg = (offset: number, value: number) =>
    holding.writeUInt16BE(value & 0xffff, (a.register + offset) * 2);
  reg(StationRegister.score, int16(s.score * 1000));
  reg(StationRegister.threshold, int16(s.threshold * 1000));
  reg(StationRegister.frameCounter, s.framesSeen);
  reg(StationRegister.framesScored, Math.floor(s.framesScored / 65536));
  reg(StationRegister.framesScored + 1, s.framesScored);
  reg(StationRegister.framesAnomalous, Math.floor(s.framesAnomalous / 65536));
  reg(StationRegister.framesAnomalous + 1, s.framesAnomalous);
  reg(StationRegister.profileVersion, s.profileVersion);
  reg(StationRegister.heartbeat, heartbeat);
  reg(StationRegister.status, statusBits(h) | (fresh ? 16 : 0) | (s.valid ? 32 : 0));
  setCoil(coils, a.coil + StationCoil.valid, s.valid);
  setCoil(coils, a.coil + StationCoil.healthy, h.healthy && fresh);
  setCoil(coils, a.coil + StationCoil.acknowledged, s.acknowledged);
  // Last, so that a PLC polling on the verdict reads the registers of the same frame.
  setCoil(coils, a.coil + StationCoil.verdict, s.anomalous);
}

function statusBits(h: ChainHealth): number {
  return (h.healthy ? 1 : 0) | (h.natsConnected ? 2 : 0) | (h.serviceUp ? 4 : 0) |
    (h.staleStations.length === 0 ? 8 : 0);
}

/** A value × 1000 as a signed 16-bit register (two's complement), clamped; 0 for NaN. */
function int16(v: number): number {
  if (Number.isNaN(v)) return 0;
  const n = Math.max(-32768, Math.min(32767, Math.round(v)));
  return n < 0 ? n + 65536 : n;
}

function setCoil(coils: Buffer, index: number, on: boolean): void {
  const byte = index >> 3, bit = 1 << (index & 7);
  coils[byte] = on ? coils[byte] | bit : coils[byte] & ~bit;
}

function getCoil(coils: Buffer, index: number): boolean {
  return (coils[index >> 3] & (1 << (index & 7))) !== 0;
}
