/**
 * Bridge latency: from a result published on NATS to the verdict a PLC sees, p50/p99 over a few
 * hundred results alternating good and defective, on a real nats-server. Three points are timed on
 * one clock (everything runs in this process, so the figures include the contention of client,
 * bus client and servers sharing one event loop):
 *
 * - runtime: the bridge has folded the result and set the OPC UA variable / Modbus coil;
 * - OPC UA: a node-opcua client subscription (publishing interval = the server's minimum, sampling
 *   0) receives the Anomalous data change;
 * - Modbus: a jsmodbus client polling the verdict coil back to back reads the new value.
 *
 * `deno run -A bench/bridge_bench.ts [--n 300] [--publishing-interval 10]`. Reports; never asserts.
 *
 * @module
 */
import { parseArgs } from "node:util";
import net from "node:net";
import { join } from "node:path";
import Modbus from "jsmodbus";
import {
  AttributeIds,
  ClientMonitoredItem,
  ClientSubscription,
  type DataValue,
  OPCUACertificateManager,
  OPCUAClient,
  TimestampsToReturn,
} from "node-opcua";
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "../src/stream/nats_server.ts";
import {
  defaultModbusMap,
  pinOpensslConf,
  startBridgeRuntime,
  startModbusBridge,
  startOpcuaBridge,
} from "../src/bridges/mod.ts";
import { encodeMessage, type ResultMessage } from "../src/stream/mod.ts";

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function result(i: number): ResultMessage {
  const now = new Date().toISOString();
  const anomalous = i % 2 === 1;
  return {
    station: "line-1",
    frameId: `f-${i}`,
    capturedAt: now,
    receivedAt: now,
    scoredAt: now,
    score: anomalous ? 3 : 0.5,
    textScore: null,
    patchScore: null,
    threshold: 2,
    anomalous,
    profileVersion: 1,
    model: { id: "bench", hash: "" },
    latencyMs: 1,
  };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Resolves when `check()` holds, polling on the event loop. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error("bridge bench: timed out waiting for a verdict");
    await new Promise((r) => setTimeout(r, 0));
  }
}

async function main(): Promise<void> {
  pinOpensslConf();
  const { values } = parseArgs({
    args: Deno.args,
    options: { n: { type: "string" }, "publishing-interval": { type: "string" } },
  });
  const n = Number(values.n ?? 300);
  const interval = Number(values["publishing-interval"] ?? 10);
  const dir = await Deno.makeTempDir({ prefix: "adp-bridge-bench-" });
  const server = await startNatsServer({ dir, jetstream: false });
  const nc = await connect({ servers: server.url });
  const publisher = await connect({ servers: server.url });
  const runtime = await startBridgeRuntime(nc, { stations: ["line-1"], serviceCheck: false, log: () => {} });
  const setAt: number[] = [];
  // A plain subscriber: when the result reached any NATS client (what a PLC reading NATS would see).
  const busAt: number[] = [];
  const plain = await connect({ servers: server.url });
  plain.subscribe("adp.results.line-1", { callback: () => void busAt.push(performance.now()) });
  await plain.flush();
  runtime.addSink({ update: () => void setAt.push(performance.now()), health: () => {} });
  const opcua = await startOpcuaBridge(runtime, {
    port: freePort(),
    pkiDir: join(dir, "pki"),
    minPublishingIntervalMs: interval,
    log: () => {},
  });
  const modbus = await startModbusBridge(runtime, {
    port: 0,
    host: "127.0.0.1",
    map: defaultModbusMap(["line-1"]),
    log: () => {},
  });
  const client = OPCUAClient.create({
    endpointMustExist: false,
    clientCertificateManager: new OPCUACertificateManager({ rootFolder: join(dir, "client-pki") }),
  });
  await client.connect(opcua.endpointUrl);
  const session = await client.createSession();
  const sub = ClientSubscription.create(session, {
    requestedPublishingInterval: interval,
    requestedMaxKeepAliveCount: 100,
    requestedLifetimeCount: 1000,
    publishingEnabled: true,
  });
  let opcuaValue: boolean | undefined, opcuaAt = 0;
  const item = ClientMonitoredItem.create(
    sub,
    { nodeId: "ns=1;s=line-1.Anomalous", attributeId: AttributeIds.Value },
    { samplingInterval: 0, queueSize: 10, discardOldest: true },
    TimestampsToReturn.Neither,
  );
  item.on("changed", (dv: DataValue) => {
    opcuaValue = dv.value.value as boolean;
    opcuaAt = performance.now();
  });
  const socket = new net.Socket();
  const plc = new Modbus.client.TCP(socket, 1, 2000);
  await new Promise<void>((r) => socket.connect({ host: "127.0.0.1", port: modbus.port }, r));
  const coil = 8; // defaultModbusMap: the first station's verdict coil
  const lat = {
    runtime: [] as number[],
    opcua: [] as number[],
    modbus: [] as number[],
    bus: [] as number[],
    opcuaAdded: [] as number[],
    modbusAdded: [] as number[],
  };
  let seq = 0;
  /** Publishes the next result; resolves with its send time once `seen(expected)` holds. */
  const step = async (seen: (expected: boolean) => boolean | Promise<boolean>) => {
    const i = seq++;
    const expected = i % 2 === 1;
    const before = setAt.length, busBefore = busAt.length;
    const t0 = performance.now();
    publisher.publish("adp.results.line-1", encodeMessage(result(i)));
    await until(() => seen(expected));
    await until(() => setAt.length > before && busAt.length > busBefore);
    return { t0, setAt: setAt[before], busAt: busAt[busBefore], warm: i >= 20 };
  };
  try {
    // Phase 1: OPC UA alone (no polling client competing for the event loop).
    for (let k = 0; k < n + 20; k++) {
      const r = await step((expected) => opcuaValue === expected);
      if (!r.warm) continue;
      lat.opcua.push(opcuaAt - r.t0);
      lat.runtime.push(r.setAt - r.t0);
      lat.bus.push(r.busAt - r.t0);
      lat.opcuaAdded.push(opcuaAt - r.busAt);
    }
    // Phase 2: a PLC polling the verdict coil back to back.
    seq = 0;
    for (let k = 0; k < n + 20; k++) {
      let modbusAt = 0;
      const r = await step(async (expected) => {
        const v = (await plc.readCoils(coil, 1)).response.body.valuesAsArray[0] === 1;
        if (v === expected) modbusAt = performance.now();
        return v === expected;
      });
      if (!r.warm) continue;
      lat.modbus.push(modbusAt - r.t0);
      lat.modbusAdded.push(modbusAt - r.busAt);
    }
  } finally {
    socket.destroy();
    await Promise.race([
      (async () => {
        await sub.terminate();
        await session.close();
        await client.disconnect();
      })(),
      new Promise((r) => setTimeout(r, 3000)),
    ]);
    await modbus.stop();
    await opcua.stop();
    await runtime.stop();
    await nc.close();
    await publisher.close();
    await plain.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
  console.log(`OPC UA subscription publishing interval granted: ${sub.publishingInterval} ms`);
  const row = (name: string, xs: number[]) =>
    `  ${name.padEnd(52)} p50 ${percentile(xs, 50).toFixed(2).padStart(6)} ms   p99 ${
      percentile(xs, 99).toFixed(2).padStart(6)
    } ms`;
  console.log(`bridge latency, result published on NATS → PLC-visible verdict (${n} results):`);
  console.log(row("NATS subscriber (the bus alone, no bridge)", lat.bus));
  console.log(row("bridge runtime (result folded, variables set)", lat.runtime));
  console.log(row(`OPC UA data change at the client (publishing ${interval} ms)`, lat.opcua));
  console.log(row("Modbus verdict coil read by a polling client", lat.modbus));
  console.log(row("added by the OPC UA bridge (data change − bus)", lat.opcuaAdded));
  console.log(row("added by the Modbus bridge (coil read − bus)", lat.modbusAdded));
  const [l1] = Deno.build.os === "linux" ? (await Deno.readTextFile("/proc/loadavg")).split(" ") : ["?"];
  console.log(`  (one process, ${navigator.hardwareConcurrency} cores, load average ${l1} at the end)`);
}

if (import.meta.main) await main();
