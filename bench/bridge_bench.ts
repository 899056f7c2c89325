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
 * Bridges and camera run on this process's event loop; each PLC client on a thread of its own (a PLC
 * is another device), its clock matched to this one; the service runs in its own process, as
 * deployed. OPC UA: a node-opcua client subscription (publishing interval = the server's minimum,
 * sampling 0); Modbus: a jsmodbus client polling the verdict coil every millisecond. `deno run -A bench/bridge_bench.ts [--n 300] [--frames 200]
 * [--publishing-interval 5] [--service-threads cores−1]`. Reports; never asserts. Part 2 needs ../shared.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer } from "../src/stream/nats_server.ts";
import {
  type BridgeRuntime,
  DEFAULT_MIN_PUBLISHING_INTERVAL_MS,
  defaultModbusMap,
  pinOpensslConf,
  startBridgeRuntime,
  startModbusBridge,
  startOpcuaBridge,
} from "../src/bridges/mod.ts";
import { encodeMessage, type ResultMessage } from "../src/stream/mod.ts";
import { hasShared } from "../tests/_shared.ts";
import { type BenchService, startBenchService } from "./_bridge_service.ts";
import type { PlcEvent, PlcStart } from "./_plc_worker.ts";

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
async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error("bridge bench: timed out waiting for a verdict");
    await new Promise((r) => setTimeout(r, 0));
  }
}

/** What a PLC last saw of the verdict, and when (on this thread's `performance.now()` clock). */
interface PlcView {
  value: boolean | undefined;
  at: number;
}

/** The PLC side: an OPC UA client subscription and a Modbus poller, each on a thread of its own. */
interface Plc {
  opcua: PlcView;
  modbus: PlcView;
  publishingInterval: number;
  close(): Promise<void>;
}

/**
 * A PLC client on its own thread (bench/_plc_worker.ts). Its clock is matched to this thread's by
 * the ping of least round trip (NTP's estimate: the reply was stamped half way), so a verdict's time
 * is when the PLC saw it, not when this busy event loop got round to reading the message.
 */
async function startPlcThread(
  start: PlcStart,
): Promise<{ view: PlcView; publishingIntervalMs?: number; stop(): Promise<void> }> {
  const worker = new Worker(new URL("./_plc_worker.ts", import.meta.url), { type: "module" });
  const view: PlcView = { value: undefined, at: 0 };
  const waiting = new Map<string, (e: PlcEvent) => void>();
  const next = (key: string) => new Promise<PlcEvent>((r) => waiting.set(key, r));
  let offset = 0; // the worker's absolute clock minus this thread's
  worker.onmessage = (e: MessageEvent<PlcEvent>) => {
    const m = e.data;
    if (m.kind === "verdict") {
      view.value = m.value;
      view.at = m.at - offset - performance.timeOrigin;
    } else {
      const key = m.kind === "pong" ? `pong-${m.id}` : m.kind;
      waiting.get(key)?.(m);
      waiting.delete(key);
    }
  };
  let bestRtt = Infinity;
  for (let id = 0; id < 50; id++) {
    const pong = next(`pong-${id}`);
    const t0 = performance.timeOrigin + performance.now();
    worker.postMessage({ kind: "ping", id });
    const { at } = await pong as Extract<PlcEvent, { kind: "pong" }>;
    const t1 = performance.timeOrigin + performance.now();
    if (t1 - t0 < bestRtt) [bestRtt, offset] = [t1 - t0, at - (t0 + t1) / 2];
  }
  const ready = next("ready");
  worker.postMessage(start);
  const { publishingIntervalMs } = await ready as Extract<PlcEvent, { kind: "ready" }>;
  return {
    view,
    publishingIntervalMs,
    async stop() {
      const stopped = next("stopped");
      worker.postMessage({ kind: "stop" });
      await stopped;
      worker.terminate();
    },
  };
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
  const opcuaPlc = await startPlcThread({
    role: "opcua",
    endpointUrl: opcua.endpointUrl,
    nodeId: "ns=1;s=line-1.Anomalous",
    publishingIntervalMs: interval,
    pkiDir: dir,
  });
  // defaultModbusMap: coil 8 is the first station's verdict
  const modbusPlc = await startPlcThread({ role: "modbus", port: modbus.port, coil: 8 });
  return {
    opcua: opcuaPlc.view,
    modbus: modbusPlc.view,
    publishingInterval: opcuaPlc.publishingIntervalMs ?? NaN,
    async close() {
      await opcuaPlc.stop();
      await modbusPlc.stop();
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
  seen: () => boolean,
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

/** Part 1: results published straight on the bus; both PLCs watch every verdict. */
async function resultsPart(
  publisher: NatsConnection,
  bus: Bus,
  plc: Plc,
  n: number,
): Promise<Samples> {
  const lat: Samples = {};
  for (let i = 0; i < n + 20; i++) {
    const expected = i % 2 === 1;
    const r = await verdict(
      bus,
      () => publisher.publish("adp.results.line-1", encodeMessage(result(i))),
      () => plc.opcua.value === expected && plc.modbus.value === expected,
    );
    if (i < 20) continue;
    push(lat, "bus", r.busAt - r.t0);
    push(lat, "runtime", r.setAt - r.t0);
    push(lat, "opcua", plc.opcua.at - r.t0);
    push(lat, "modbus", plc.modbus.at - r.t0);
    push(lat, "opcuaAdded", plc.opcua.at - r.busAt);
    push(lat, "modbusAdded", plc.modbus.at - r.busAt);
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
    const r = await verdict(
      bus,
      () => service.publish(set[i % set.length], `b-${i}`),
      () => plc.opcua.value === expected && plc.modbus.value === expected,
    );
    if (i < 10) continue;
    push(lat, "service", r.busAt - r.t0);
    push(lat, "opcua", plc.opcua.at - r.t0);
    push(lat, "modbus", plc.modbus.at - r.t0);
    push(lat, "opcuaAdded", plc.opcua.at - r.busAt);
    push(lat, "modbusAdded", plc.modbus.at - r.busAt);
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
  const interval = Number(values["publishing-interval"] ?? DEFAULT_MIN_PUBLISHING_INTERVAL_MS);
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
