/**
 * The whole chain on a real bus: an ffmpeg HTTP MJPEG camera triggered by a "PLC" message, the real
 * scoring service (tiny model, a bottle profile whose threshold makes every frame defective), and the
 * Modbus bridge a PLC polls.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import net from "node:net";
import Modbus from "jsmodbus";
import { startCapture } from "../../src/camera/mod.ts";
import { defaultModbusMap, startBridgeRuntime, startModbusBridge } from "../../src/bridges/mod.ts";
import { decodeResult, type ResultMessage, startProcessor } from "../../src/stream/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { stateDirWith, tinyModel } from "../stream/_fixture.ts";
import { mjpegCamera } from "../camera/_ffmpeg.ts";
import { waitFor } from "./_results.ts";

const quiet = () => {};

Deno.test({
  name: "a PLC trigger gives exactly one scored result with the part id, and its verdict on the Modbus coil",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { press: { threshold: -1e6 } });
    await using camera = mjpegCamera();
    try {
      const service = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      try {
        const plcBus = await ns.connect("plc");
        const results: ResultMessage[] = [];
        plcBus.subscribe("adp.results.press", {
          callback: (_e, m) => void results.push(decodeResult(m.data)),
        });
        await using runtime = await startBridgeRuntime(await ns.connect("bridge"), {
          stations: ["press"],
          log: quiet,
        });
        await using bridge = await startModbusBridge(runtime, {
          port: 0,
          host: "127.0.0.1",
          map: defaultModbusMap(["press"]),
          log: quiet,
        });
        await using cam = await startCapture(await ns.connect("camera"), {
          station: "press",
          source: { kind: "url", url: camera.url },
          trigger: true,
          triggerTimeoutMs: 5000,
          backoffMs: 50,
          log: quiet,
        });
        await waitFor(() => cam.stats().streaming, 10_000, "the camera stream");
        const reply = await plcBus.request("adp.trigger.press", "part-0042", { timeout: 6000 });
        strictEqual(reply.json<{ ok: boolean }>().ok, true);
        await waitFor(() => results.length >= 1, 20_000, "the result");
        await new Promise((r) => setTimeout(r, 500));
        deepStrictEqual(results.map((r) => [r.frameId, r.anomalous, r.error]), [[
          "part-0042",
          true,
          undefined,
        ]]);
        const socket = new net.Socket();
        const plc = new Modbus.client.TCP(socket, 1, 2000);
        await new Promise<void>((r) => socket.connect({ host: "127.0.0.1", port: bridge.port }, r));
        try {
          const coils = (await plc.readCoils(8, 2)).response.body.valuesAsArray;
          deepStrictEqual([coils[0], coils[1]], [1, 1], "verdict anomalous, valid");
          const counter = (await plc.readHoldingRegisters(16 + 2, 1)).response.body.valuesAsArray[0];
          strictEqual(counter, 1);
        } finally {
          socket.destroy();
        }
      } finally {
        await service.stop();
      }
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
