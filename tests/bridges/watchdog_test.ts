import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import net from "node:net";
import Modbus from "jsmodbus";
import {
  guardLateSocketErrors,
  parseBridgeConfig,
  parseModbusMap,
  startBridgeRuntime,
  startBridges,
} from "../../src/bridges/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { freePort, publishResult, result, waitFor } from "./_results.ts";
import { parsePrometheusText, sampleValue } from "../deploy/_serve.ts";

const DEPLOY = fileURLToPath(new URL("../../deploy/", import.meta.url));

Deno.test("deploy/bridges.example.json and deploy/modbus-map.example.json are valid", async () => {
  const file = `${DEPLOY}bridges.example.json`;
  const cfg = parseBridgeConfig(await Deno.readTextFile(file), file);
  ok(cfg.opcua && cfg.modbus && cfg.webhook);
  const map = parseModbusMap(await Deno.readTextFile(cfg.modbus.map!), cfg.modbus.map);
  deepStrictEqual(Object.keys(map.stations), ["line-1", "line-2"]);
});

Deno.test("startBridges() fails safe: the heartbeat stops and readyz says why when the service, results or NATS go", async () => {
  const server = await setup({ jetstream: false });
  const http = freePort();
  // The NATS restart below may trip the transport's late socket errors (see transport_guard.ts).
  const unguard = guardLateSocketErrors(() => {});
  try {
    const nc = await server.connect("bridge");
    const service = await server.connect("stand-in service");
    const logs: string[] = [];
    await using bridges = await startBridges(nc, {
      stations: ["line-1"],
      staleAfterMs: 600,
      heartbeatMs: 100,
      http,
      modbus: { port: 0, host: "127.0.0.1" },
    }, (l) => logs.push(l));
    const socket = new net.Socket();
    const plc = new Modbus.client.TCP(socket, 1, 2000);
    await new Promise<void>((r) => socket.connect({ host: "127.0.0.1", port: bridges.modbus!.port }, r));
    const heartbeat = async () =>
      (await plc.readHoldingRegisters(0, 1)).response.body.valuesAsArray[0] as number;
    const chainCoil = async () => (await plc.readCoils(0, 1)).response.body.valuesAsArray[0] as number;
    // The same endpoint as adp serve's: /healthz while the process answers, /readyz while the chain is up.
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${http}/readyz`);
      return { status: res.status, body: await res.text() };
    };
    try {
      // The service answers its status endpoint and results flow: healthy, the heartbeat advances.
      service.subscribe("adp.svc.status", { callback: (_e, m) => void m.respond("{}") });
      const feed = setInterval(() => publishResult(service, result("line-1", `f-${Date.now()}`, 0.2)), 100);
      try {
        await waitFor(async () => (await readyz()).status === 200, 5000, "a healthy chain");
        const beat = await heartbeat();
        await waitFor(async () => (await heartbeat()) > beat + 2, 3000, "the heartbeat");
        strictEqual(await chainCoil(), 1);
      } finally {
        clearInterval(feed);
      }
      // Results stop: the station goes stale, the heartbeat freezes.
      await waitFor(async () => (await readyz()).status === 503, 3000, "stale results");
      const down = (await readyz()).body;
      ok(down.startsWith("not ready: stations:") && down.includes("no results from line-1"), down);
      strictEqual(
        (await fetch(`http://127.0.0.1:${http}/healthz`)).status,
        200,
        "the bridge itself is alive",
      );
      strictEqual(await chainCoil(), 0);
      const frozen = await heartbeat();
      await new Promise((r) => setTimeout(r, 300));
      strictEqual(await heartbeat(), frozen, "the heartbeat is frozen while the chain is down");
      // NATS goes away (a server restart; the client waits a while before it reconnects).
      await server.restart();
      await waitFor(
        () => logs.some((l) => l.includes("bridge disconnected from NATS")),
        3000,
        "the disconnect to be seen",
      );
      const { samples } = parsePrometheusText(await (await fetch(`http://127.0.0.1:${http}/metrics`)).text());
      ok(sampleValue(samples, "adp_bridge_station_frames_total", { station: "line-1", kind: "scored" })! > 0);
      strictEqual(sampleValue(samples, "adp_bridge_chain_healthy"), 0);
      ok(sampleValue(samples, "adp_process_resident_memory_bytes")! > 0);
    } finally {
      await new Promise<void>((r) => socket.end(() => r()));
    }
  } finally {
    await cleanup(server);
    unguard();
  }
});

Deno.test("startBridgeRuntime() shows the stations adp serve's status names before their first result", async () => {
  const server = await setup({ jetstream: false });
  try {
    const service = await server.connect("stand-in service");
    service.subscribe("adp.svc.status", {
      callback: (_e, m) =>
        void m.respond(JSON.stringify({ stations: [{ station: "oven-3" }, { station: "$bad" }] })),
    });
    await service.flush();
    await using runtime = await startBridgeRuntime(await server.connect("bridge"), {
      heartbeatMs: 50,
      log: () => {},
    });
    await waitFor(() => runtime.stations().some((s) => s.station === "oven-3"), 3000, "oven-3");
    deepStrictEqual(runtime.stations().map((s) => s.station), ["oven-3"]);
  } finally {
    await cleanup(server);
  }
});
