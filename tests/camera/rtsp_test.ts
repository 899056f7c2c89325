/**
 * `adp camera --url rtsp://…` against a local RTSP source (issue 14): Debian's rtsp-server-perl with
 * ffmpeg publishing a test pattern into it; the camera's frames reach NATS with the ids it was told
 * to give them. Skipped where rtsp-server-perl is not installed (`apt-get install rtsp-server-perl`).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { Header } from "../../src/stream/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { runCli } from "../_cli.ts";
import { hasRtspServer, rtspCamera } from "./_ffmpeg.ts";

Deno.test({
  name: "adp camera --url rtsp://… publishes the RTSP stream's frames with consecutive ids",
  ignore: !hasRtspServer(),
  async fn() {
    const server = await setup({ jetstream: false });
    await using camera = rtspCamera();
    try {
      const nc = await server.connect();
      const frames: { id: string; bytes: Uint8Array }[] = [];
      nc.subscribe("adp.frames.line-r", {
        callback: (_e, m) => void frames.push({ id: m.headers?.get(Header.frameId) ?? "", bytes: m.data }),
      });
      await nc.flush();
      const run = await runCli([
        "camera",
        "--url",
        camera.url,
        "--rtsp-transport",
        "udp",
        "--station",
        "line-r",
        "--fps",
        "5",
        "--count",
        "5",
        "--id-prefix",
        "rtsp",
        "--nats",
        server.url,
      ]);
      strictEqual(run.code, 0, run.err);
      ok(run.out.includes("published 5 frames of line-r"), run.out);
      await nc.flush();
      deepStrictEqual(frames.map((f) => f.id), ["rtsp-0", "rtsp-1", "rtsp-2", "rtsp-3", "rtsp-4"]);
      for (const f of frames) {
        ok(f.bytes[0] === 0xff && f.bytes[1] === 0xd8 && f.bytes.at(-1) === 0xd9, "one whole JPEG");
      }
    } finally {
      await cleanup(server);
    }
  },
});
