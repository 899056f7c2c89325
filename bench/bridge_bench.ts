/**
 * Bridge latency: to the verdict a PLC sees, p50/p99, on a real nats-server, in two parts.
 *
 * 1. Results alone: a few hundred results alternating good and defective published straight on
 *    `adp.results.line-1`; times to the bridge runtime, an OPC UA data change and a Modbus coil.
 * 2. Frames through the service: `adp serve` in a child process (tiny CLIP, real 900×900 PNGs, threshold put
 *    between two sets of frames so the verdict flips every frame) scores frames alternating from
 *    the two sets; for each frame, its result on the bus (the service's own latency), the OPC UA
 *    data change and the Modbus coil, all from the frame's publish, and what the bridges add:
 *    verdict visible − result published.
 *
 * Bridges, PLC clients and the camera run in this process on one clock, so the figures include their
 * contention for one event loop; the service runs in its own process, as deployed. OPC UA: a node-opcua client subscription
 * (publishing interval = the server's minimum, sampling 0); Modbus: a jsmodbus client polling the
 * verdict coil back to back. `deno run -A bench/bridge_bench.ts [--n 300] [--frames 200]
 * [--publishing-interval 10] [--service-threads cores−1]`. Reports; never asserts. Part 2 needs ../shared.
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
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer } from "../src/stream/nats_server.ts";
import {
  type BridgeRuntime,
  defaultModbusMap,
  pinOpensslConf,
  startBridgeRuntime,
  startModbusBridge,
  startOpcuaBridge,
} from "../src/bridges/mod.ts";
import { encodeMessage, type ResultMessage } from "../src/stream/mod.ts";
import { hasShared } from "../tests/_shared.ts";
import { type BenchService, startBenchService } from "./_bridge_service.ts";

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

/** The PLC side: an OPC UA client subscription and a Modbus poller, on the bridges of one runtime. */
interface Plc {
  opcua: { value: boolean | undefined; at: number };
  coil(): Promise<boolean>;
  publishingInterval: number;
  close(): Promise<void>;
}

async function startPlc(dir: string, runtime: BridgeRuntime, interval: number): Promise<Plc> {
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
  const seen: Plc["opcua"] = { value: undefined, at: 0 };
  const item = ClientMonitoredItem.create(
    sub,
    { nodeId: "ns=1;s=line-1.Anomalous", attributeId: AttributeIds.Value },
    { samplingInterval: 0, queueSize: 10, discardOldest: true },
    TimestampsToReturn.Neither,
  );
  item.on("changed", (dv: DataValue) => {
    seen.value = dv.value.value as boolean;
    seen.at = performance.now();
  });
  const socket = new net.Socket();
  const plc = new Modbus.client.TCP(socket, 1, 2000);
  await new Promise<void>((r) => socket.connect({ host: "127.0.0.1", port: modbus.port }, r));
  const coil = 8; // defaultModbusMap: the first station's verdict coil
  return {
    opcua: seen,
    coil: async () => (await plc.readCoils(coil, 1)).response.body.valuesAsArray[0] === 1,
    get publishingInterval() {
      return sub.publishingInterval;
    },
    async close() {
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
    },
  };
}

/** When each result reached a plain subscriber and the runtime, and the pause before each send. */
interface Bus {
  busAt: number[];
  setAt: number[];
  jitterMs: number;
}

/** Latencies in ms, by what was timed. */
type Samples = Record<string, number[]>;

function push(lat: Samples, name: string, ms: number): void {
  (lat[name] ??= []).push(ms);
}

/**
 * One verdict: `send()` publishes it (a result, or a frame the service scores), then the times are
 * taken when the result reached a plain NATS subscriber and the bridge runtime, and when `seen` holds.
 */
async function verdict(
  bus: Bus,
  send: () => void,
  seen: () => boolean | Promise<boolean>,
): Promise<{ t0: number; busAt: number; setAt: number }> {
  // A random pause first: a result's arrival is not phase-locked to the OPC UA publishing cycle, but
  // sending the next one the moment the last was seen would lock it there (always a whole cycle's wait).
  await new Promise((r) => setTimeout(r, Math.random() * bus.jitterMs));
  const before = bus.setAt.length, busBefore = bus.busAt.length;
  const t0 = performance.now();
  send();
  await until(seen, 30_000);
  await until(() => bus.setAt.length > before && bus.busAt.length > busBefore, 30_000);
  return { t0, setAt: bus.setAt[before], busAt: bus.busAt[busBefore] };
}

/** Part 1: results published straight on the bus; OPC UA alone, then the Modbus poller. */
async function resultsPart(
  publisher: NatsConnection,
  bus: Bus,
  plc: Plc,
  n: number,
): Promise<Samples> {
  const lat: Samples = {};
  const send = (i: number) => () => publisher.publish("adp.results.line-1", encodeMessage(result(i)));
  for (let i = 0; i < n + 20; i++) {
    const expected = i % 2 === 1;
    const r = await verdict(bus, send(i), () => plc.opcua.value === expected);
    if (i < 20) continue;
    push(lat, "bus", r.busAt - r.t0);
    push(lat, "runtime", r.setAt - r.t0);
    push(lat, "opcua", plc.opcua.at - r.t0);
    push(lat, "opcuaAdded", plc.opcua.at - r.busAt);
  }
  for (let i = 0; i < n + 20; i++) {
    const expected = i % 2 === 1;
    let at = 0;
    const r = await verdict(bus, send(i), async () => {
      const ok = (await plc.coil()) === expected;
      if (ok) at = performance.now();
      return ok;
    });
    if (i < 20) continue;
    push(lat, "modbus", at - r.t0);
    push(lat, "modbusAdded", at - r.busAt);
  }
  return lat;
}

/** Part 2: frames through the service, the verdict flipping every frame; OPC UA and Modbus together. */
async function framesPart(
  service: BenchService,
  bus: Bus,
  plc: Plc,
  n: number,
): Promise<Samples> {
  const lat: Samples = {};
  // The calibration's results may still be on their way to the plain subscriber and the runtime.
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < n + 10; i++) {
    const expected = i % 2 === 1;
    const set = expected ? service.high : service.low;
    let modbusAt = 0;
    const r = await verdict(bus, () => service.publish(set[i % set.length], `b-${i}`), async () => {
      if (!modbusAt && (await plc.coil()) === expected) modbusAt = performance.now();
      return modbusAt > 0 && plc.opcua.value === expected;
    });
    if (i < 10) continue;
    push(lat, "service", r.busAt - r.t0);
    push(lat, "opcua", plc.opcua.at - r.t0);
    push(lat, "modbus", modbusAt - r.t0);
    push(lat, "opcuaAdded", plc.opcua.at - r.busAt);
    push(lat, "modbusAdded", modbusAt - r.busAt);
  }
  return lat;
}

function row(name: string, xs: number[] | undefined): string {
  if (!xs?.length) return `  ${name.padEnd(56)} (not measured)`;
  return `  ${name.padEnd(56)} p50 ${percentile(xs, 50).toFixed(2).padStart(6)} ms   p99 ${
    percentile(xs, 99).toFixed(2).padStart(6)
  } ms`;
}

// long: set-up and tear-down of the server, runtime, bridges, PLC clients and service in one place
async function main(): Promise<void> {
  pinOpensslConf();
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      n: { type: "string" },
      frames: { type: "string" },
      "publishing-interval": { type: "string" },
      "service-threads": { type: "string" },
    },
  });
  // The service's onnxruntime threads spin while they wait: leave the bridges a core, as a small edge
  // box running both would (`adp serve --threads`).
  const serviceThreads = values["service-threads"] ?? String(Math.max(1, navigator.hardwareConcurrency - 1));
  const n = Number(values.n ?? 300), frames = Number(values.frames ?? 200);
  const interval = Number(values["publishing-interval"] ?? 10);
  const dir = await Deno.makeTempDir({ prefix: "adp-bridge-bench-" });
  const server = await startNatsServer({ dir, jetstream: false });
  const nc = await connect({ servers: server.url });
  const publisher = await connect({ servers: server.url });
  const plain = await connect({ servers: server.url });
  const runtime = await startBridgeRuntime(nc, { stations: ["line-1"], serviceCheck: false, log: () => {} });
  // A plain subscriber: when the result reached any NATS client (the bus alone, no bridge).
  const bus: Bus = { busAt: [], setAt: [], jitterMs: interval };
  plain.subscribe("adp.results.line-1", { callback: () => void bus.busAt.push(performance.now()) });
  await plain.flush();
  runtime.addSink({ update: () => void bus.setAt.push(performance.now()), health: () => {} });
  const plc = await startPlc(dir, runtime, interval);
  let results: Samples = {}, scored: Samples = {};
  try {
    results = await resultsPart(publisher, bus, plc, n);
    if (hasShared() && frames > 0) {
      await using service = await startBenchService(server.url, publisher, "line-1", join(dir, "service"), [
        "--threads",
        serviceThreads,
      ]);
      scored = await framesPart(service, bus, plc, frames);
    }
  } finally {
    await plc.close();
    await runtime.stop();
    for (const c of [nc, publisher, plain]) await c.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
  console.log(`OPC UA subscription publishing interval granted: ${plc.publishingInterval} ms`);
  console.log(`bridge latency, result published on NATS → PLC-visible verdict (${n} results):`);
  console.log(row("NATS subscriber (the bus alone, no bridge)", results.bus));
  console.log(row("bridge runtime (result folded, variables set)", results.runtime));
  console.log(row(`OPC UA data change at the client (publishing ${interval} ms)`, results.opcua));
  console.log(row("Modbus verdict coil read by a polling client", results.modbus));
  console.log(row("added by the OPC UA bridge (data change − bus)", results.opcuaAdded));
  console.log(row("added by the Modbus bridge (coil read − bus)", results.modbusAdded));
  console.log(
    `frame published → verdict, through adp serve (tiny CLIP, 900×900 PNG, --threads ${serviceThreads}; ${frames} frames):`,
  );
  console.log(row("service: frame published → result on the bus", scored.service));
  console.log(row("frame → OPC UA data change", scored.opcua));
  console.log(row("frame → Modbus coil", scored.modbus));
  console.log(row("added by the OPC UA bridge (data change − result published)", scored.opcuaAdded));
  console.log(row("added by the Modbus bridge (coil read − result published)", scored.modbusAdded));
  const [l1] = Deno.build.os === "linux" ? (await Deno.readTextFile("/proc/loadavg")).split(" ") : ["?"];
  console.log(`  (one process, ${navigator.hardwareConcurrency} cores, load average ${l1} at the end)`);
}

if (import.meta.main) {
  await main();
  // node-opcua keeps handles open after its client disconnected and its server stopped: without
  // this the process never ends (and `deno task bench`, which waits for it, with it).
  Deno.exit(0);
}
