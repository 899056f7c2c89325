import { ok, strictEqual, throws } from "node:assert/strict";
import net from "node:net";
import Modbus from "jsmodbus";
import {
  defaultModbusMap,
  parseModbusMap,
  startBridgeRuntime,
  startModbusBridge,
  StationCoil,
  StationRegister,
} from "../../src/bridges/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { publishResult, result, waitFor } from "./_results.ts";

async function modbusClient(port: number) {
  const socket = new net.Socket();
  const client = new Modbus.client.TCP(socket, 1, 2000);
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.connect({ host: "127.0.0.1", port }, () => resolve());
  });
  return {
    client,
    coils: async (start: number, n: number) =>
      (await client.readCoils(start, n)).response.body.valuesAsArray.slice(0, n) as number[],
    registers: async (start: number, n: number) =>
      [...(await client.readHoldingRegisters(start, n)).response.body.valuesAsArray] as number[],
    close: () => new Promise<void>((r) => socket.end(() => r())),
  };
}

Deno.test("startModbusBridge() shows a defective frame's verdict, score and counters to a Modbus client", async () => {
  const server = await setup({ jetstream: false });
  try {
    const nc = await server.connect();
    const map = parseModbusMap(JSON.stringify({
      unitId: 1,
      chain: { coil: 0, register: 0 },
      stations: { "line-1": { coil: 8, register: 10 }, "line-2": { coil: 16, register: 30 } },
    }));
    await using runtime = await startBridgeRuntime(await server.connect(), {
      stations: ["line-1", "line-2"],
      serviceCheck: false,
      heartbeatMs: 100,
      log: () => {},
    });
    await using bridge = await startModbusBridge(runtime, { port: 0, host: "127.0.0.1", map, log: () => {} });
    const plc = await modbusClient(bridge.port);
    try {
      strictEqual((await plc.coils(8, 1))[0], 0);
      publishResult(nc, result("line-1", "good-1", 0.5));
      publishResult(nc, result("line-1", "bad-2", 2.75));
      await waitFor(
        async () => (await plc.coils(8 + StationCoil.verdict, 1))[0] === 1,
        5000,
        "the verdict coil",
      );
      const regs = await plc.registers(10, 10);
      strictEqual(regs[StationRegister.score], 2750);
      strictEqual(regs[StationRegister.threshold], 2000);
      strictEqual(regs[StationRegister.frameCounter], 2);
      strictEqual(regs[StationRegister.framesScored + 1], 2);
      strictEqual(regs[StationRegister.framesAnomalous + 1], 1);
      strictEqual(regs[StationRegister.profileVersion], 3);
      strictEqual((await plc.coils(16, 1))[0], 0, "line-2 untouched");
      // A negative score is a two's complement register.
      publishResult(nc, result("line-1", "good-3", -1.5));
      await waitFor(async () => (await plc.coils(8, 1))[0] === 0, 5000, "the verdict back to good");
      strictEqual((await plc.registers(10, 1))[0], 65536 - 1500);
      // The heartbeat advances while the chain is healthy.
      const beat = (await plc.registers(0, 1))[0];
      await waitFor(async () => (await plc.registers(0, 1))[0] > beat, 2000, "the heartbeat");
      strictEqual((await plc.coils(0, 1))[0], 1, "chain healthy");
      // The PLC acknowledges the anomaly by writing the acknowledged coil.
      strictEqual((await plc.coils(8 + StationCoil.acknowledged, 1))[0], 0);
      await plc.client.writeSingleCoil(8 + StationCoil.acknowledged, true);
      await waitFor(
        () => runtime.stations().find((s) => s.station === "line-1")!.acknowledged,
        2000,
        "the ack",
      );
    } finally {
      await plc.close();
    }
  } finally {
    await cleanup(server);
  }
});

Deno.test("parseModbusMap() refuses overlapping blocks and bad addresses", () => {
  throws(
    () =>
      parseModbusMap('{"stations": {"a": {"coil": 8, "register": 10}, "b": {"coil": 10, "register": 40}}}'),
    /a and b overlap in their coils/,
  );
  throws(() => parseModbusMap('{"stations": {"a": {"coil": -1, "register": 10}}}'), /needs integer "coil"/);
  throws(() => parseModbusMap('{"stations": {"a b": {"coil": 8, "register": 10}}}'), /no station id/);
  ok(defaultModbusMap(["a", "b"]).stations.b.register === 32);
});
