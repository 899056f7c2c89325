/**
 * The demo as a user runs it: a child process with NATS_URL pointing at a port where nothing
 * listens, so it starts (and stops) its own nats-server, enrolls a station, streams frames and
 * prints every result.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { needsShared } from "./_shared.ts";

const DEMO = fileURLToPath(new URL("../src/demo.ts", import.meta.url));

/** A loopback port nothing listens on (taken and released at once). */
function unusedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test({
  name: "demo starts its own nats-server, enrolls, answers every frame and reports anomalies",
  ...needsShared,
  async fn() {
    const env = Deno.env.toObject();
    // The tiny generated model, on the CPU, whatever the developer's shell configures.
    delete env.ADP_MODEL_DIR;
    delete env.ADP_DEVICE;
    env.NATS_URL = `nats://127.0.0.1:${unusedPort()}`;
    env.NO_COLOR = "1";
    const started = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", DEMO],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    const { code, stdout, stderr } = await child.output().finally(() => clearTimeout(timer));
    const out = new TextDecoder().decode(stdout);
    const err = new TextDecoder().decode(stderr);
    const seconds = (performance.now() - started) / 1000;
    const context = `exit ${code} after ${seconds.toFixed(1)} s\n--- stdout\n${out}\n--- stderr\n${err}`;

    assert.equal(code, 0, context);
    assert.match(out, /started nats-server \(pid \d+\) at nats:\/\/127\.0\.0\.1:\d+/, context);
    assert.match(out, /randomly initialised tiny CLIP/, context);
    assert.match(out, /enrollment done: profile v1 of demo-bottle in force/, context);

    const streamed = Number(/streaming (\d+) frames/.exec(out)?.[1]);
    assert.ok(streamed >= 10, context);
    // One line per result, "n/N  source  score …", each frame exactly once.
    const resultLines = out.split("\n").filter((l) => new RegExp(`^\\s*\\d+/${streamed}  test/`).test(l));
    const numbers = resultLines.map((l) => Number(l.trim().split("/")[0])).sort((a, b) => a - b);
    assert.deepEqual(numbers, Array.from({ length: streamed }, (_, i) => i + 1), context);
    assert.match(
      out,
      new RegExp(`${streamed} frames in, ${streamed} results out \\(${streamed} scored`),
      context,
    );
    assert.match(
      out,
      /↳ anomaly event for frame-\d+: .*heat map out\/demo\/heatmaps\/frame-\d+\.png/,
      context,
    );

    // Stopped cleanly: the service drained, the private server stopped, its folder removed.
    assert.match(out, /adp serve \S+ stopped/, context);
    assert.match(out, /stopped nats-server \(pid \d+\)/, context);
    const tempDir = /removed (\S+)/.exec(out)?.[1];
    assert.ok(tempDir, context);
    await assert.rejects(Deno.stat(tempDir), Deno.errors.NotFound);
  },
});
