/**
 * The bus commands of the CLI, run in-process against a real server and service: `adp camera`,
 * `adp enroll` (exit codes and the outcome line), `adp events` and `adp status`.
 */
import assert from "node:assert/strict";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli as run } from "../_cli.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import { decodeResult, type ResultMessage } from "../../src/stream/messages.ts";
import { framesSubject } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { bottle, Gather, sendFrame, sleep, tinyModel } from "./_fixture.ts";

Deno.test({
  name: "adp camera, enroll, events and status work against a running service",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await Deno.makeTempDir();
    const cameraDir = await Deno.makeTempDir();
    try {
      for (let i = 0; i < 6; i++) {
        const name = `${String(i).padStart(3, "0")}.png`;
        await copyFile(sharedPath("datasets/mvtec-ad/bottle/train/good", name), join(cameraDir, name));
      }
      await Deno.writeTextFile(join(cameraDir, "notes.txt"), "not a frame");
      const nats = ["--nats", ns.url];
      const client = await ns.connect("client");
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: () => {},
      });
      const results = new Gather<ResultMessage>(client, "adp.results.cam", (m) => decodeResult(m.data));
      await client.flush();

      const camera = await run([
        "camera",
        ...nats,
        "--dir",
        cameraDir,
        "--station",
        "cam",
        "--fps",
        "100",
        "--id-prefix",
        "c",
      ]);
      assert.equal(camera.code, 0, camera.err);
      assert.match(camera.out, /published 6 frames of cam on adp.frames.cam/);
      await results.count(6);
      assert.deepEqual(results.items.map((r) => r.frameId).sort(), [
        "c-0",
        "c-1",
        "c-2",
        "c-3",
        "c-4",
        "c-5",
      ]);
      assert.ok(results.items.every((r) => r.capturedAt !== null));

      // Enrollment needs frames: a camera feeds the station while `adp enroll` follows the job (not
      // through run(): two commands at once would mix their captured output).
      let feed = true;
      const feeding = (async () => {
        for (let i = 0; feed; i++) {
          sendFrame(client, framesSubject("cam"), await bottle(i % 6), `feed-${i}`);
          await sleep(50);
        }
      })();
      // The feed stops however the enrollment ends, so a failure is reported as itself, not as a
      // publish on a closed connection.
      try {
        const enrolled = await run([
          "enroll",
          ...nats,
          "--station",
          "cam",
          "--shots",
          "2",
          "--steps",
          "1",
          "--label",
          "bottle",
        ]);
        assert.equal(enrolled.code, 0, enrolled.err);
        assert.match(enrolled.out, /station cam: profile v1 in force/);
        assert.match(enrolled.err, /calibration/, `stderr: ${enrolled.err}\nstdout: ${enrolled.out}`);

        const events = await run(["events", ...nats, "--station", "cam", "--count", "3"]);
        assert.equal(events.code, 0, events.err);
        const lines = events.out.split("\n");
        assert.equal(lines.length, 3);
        for (const line of lines) assert.match(line, /cam\s+feed-\d+\s+(ok|ANOMALOUS|ANOMALY)\s+score/);
      } finally {
        feed = false;
        await feeding;
      }

      const status = await run(["status", ...nats, "--wait-ms", "200"]);
      assert.equal(status.code, 0, status.err);
      assert.match(status.out, new RegExp(`instance ${processor.instance}`));
      assert.match(status.out, /cam\s+v1\s/);

      const refused = await run(["enroll", ...nats, "--station", "cam", "--shots", "0"]);
      assert.equal(refused.code, 2);
      assert.match(refused.err, /--shots must be an integer in \[1, 16\]/);
      const badId = await run([
        "enroll",
        ...nats,
        "--station",
        "cam",
        "--shots",
        "2",
        "--frame-id",
        "x",
        "--frame-id",
        "y",
      ]);
      assert.notEqual(badId.code, 0);
      assert.match(badId.err, /refused \(frames-not-found\)/);
      await processor.stop();
      await sleep(50);
      const noService = await run(["status", ...nats, "--wait-ms", "100"]);
      assert.equal(noService.code, 10, noService.err); // BUS_UNAVAILABLE
      assert.match(noService.err, /No adp service answered on adp.svc.status/);
      const noServer = await run([
        "enroll",
        "--nats",
        "nats://127.0.0.1:1",
        "--station",
        "cam",
        "--shots",
        "2",
      ]);
      assert.equal(noServer.code, 10); // BUS_UNAVAILABLE
      assert.match(noServer.err, /Cannot connect to NATS at nats:\/\/127.0.0.1:1/);
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
      await Deno.remove(cameraDir, { recursive: true });
    }
  },
});
