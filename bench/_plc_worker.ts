/**
 * One PLC of the bridge bench, on a thread of its own: a PLC is a separate device, so its client must
 * not wait for the bridge's event loop (nor the bridge for it). Started with `{ role: "opcua", … }`
 * (a node-opcua subscription on the verdict, sampling 0) or `{ role: "modbus", … }` (a jsmodbus
 * client reading the verdict coil every millisecond, as a fast PLC scan would); posts
 * `{ kind: "ready" }`, then `{ kind: "verdict", value, at }` on every change it sees, `at` on this
 * thread's clock (`timeOrigin + now()`, matched to the main thread's by bridge_bench.ts's
 * `startPlcThread` pings). `{ kind: "ping", id }` is answered with this thread's time;
 * `{ kind: "stop" }` closes the client and answers `{ kind: "stopped" }`.
 *
 * @module
 */
/// <reference lib="deno.worker" />
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
import { pinOpensslConf } from "../src/bridges/mod.ts";

/** What starts a PLC. */
export type PlcStart =
  | { role: "opcua"; endpointUrl: string; nodeId: string; publishingIntervalMs: number; pkiDir: string }
  | { role: "modbus"; port: number; coil: number };

/** What a PLC thread posts. */
export type PlcEvent =
  | { kind: "ready"; publishingIntervalMs?: number }
  | { kind: "verdict"; value: boolean; at: number }
  | { kind: "pong"; id: number; at: number }
  | { kind: "stopped" };

const now = () => performance.timeOrigin + performance.now();
const post = (e: PlcEvent) => self.postMessage(e);

async function startOpcua(start: Extract<PlcStart, { role: "opcua" }>): Promise<() => Promise<void>> {
  pinOpensslConf();
  const client = OPCUAClient.create({
    endpointMustExist: false,
    clientCertificateManager: new OPCUACertificateManager({ rootFolder: join(start.pkiDir, "client-pki") }),
  });
  await client.connect(start.endpointUrl);
  const session = await client.createSession();
  const sub = ClientSubscription.create(session, {
    requestedPublishingInterval: start.publishingIntervalMs,
    requestedMaxKeepAliveCount: 100,
    requestedLifetimeCount: 1000,
    publishingEnabled: true,
  });
  const item = ClientMonitoredItem.create(
    sub,
    { nodeId: start.nodeId, attributeId: AttributeIds.Value },
    { samplingInterval: 0, queueSize: 10, discardOldest: true },
    TimestampsToReturn.Neither,
  );
  item.on("changed", (dv: DataValue) => post({ kind: "verdict", value: dv.value.value === true, at: now() }));
  await new Promise((r) => item.once("initialized", r));
  post({ kind: "ready", publishingIntervalMs: sub.publishingInterval });
  return async () => {
    await sub.terminate();
    await session.close();
    await client.disconnect();
  };
}

async function startModbus(start: Extract<PlcStart, { role: "modbus" }>): Promise<() => Promise<void>> {
  const socket = new net.Socket();
  const plc = new Modbus.client.TCP(socket, 1, 2000);
  await new Promise<void>((r) => socket.connect({ host: "127.0.0.1", port: start.port }, r));
  let running = true, last: boolean | undefined;
  const polling = (async () => {
    while (running) {
      const value = (await plc.readCoils(start.coil, 1)).response.body.valuesAsArray[0] === 1;
      if (value !== last) post({ kind: "verdict", value, at: now() });
      last = value;
      // A PLC scans in cycles; polling back to back would take a core from the bridge it measures.
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  post({ kind: "ready" });
  return async () => {
    running = false;
    await polling.catch(() => {});
    socket.destroy();
  };
}

let stop: (() => Promise<void>) | undefined;
self.onmessage = async (e: MessageEvent<PlcStart | { kind: "ping"; id: number } | { kind: "stop" }>) => {
  const m = e.data;
  if ("role" in m) stop = m.role === "opcua" ? await startOpcua(m) : await startModbus(m);
  else if (m.kind === "ping") post({ kind: "pong", id: m.id, at: now() });
  else {
    await Promise.race([stop?.(), new Promise((r) => setTimeout(r, 3000))]);
    post({ kind: "stopped" });
  }
};
