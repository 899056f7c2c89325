/**
 * `adp serve --config FILE`: the example configs (deploy/adp-serve.example.json and .toml) are read
 * as shipped and set what the equivalent flags set;
 * flags beat `ADP_<FLAG>` variables, which beat the file; credentials are refused in it; and a real
 * service started from a config file (relative paths, a station's threshold) runs with the same
 * settings as one started from the equivalent flags.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { ConfigError } from "../../src/errors.ts";
import { type Command, parseCommandArgs } from "../../src/cli/_command.ts";
import { applyServeConfig } from "../../src/cli/_serve_config.ts";
import { serve } from "../../src/cli/serve.ts";
import { Endpoint, serviceSubject, type StatusReply } from "../../src/stream/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { reliabilityModel, stateDirWith } from "../reliability/_fixture.ts";
import { spawnAdp, waitFor } from "./_serve.ts";

const EXAMPLE = fileURLToPath(new URL("../../deploy/adp-serve.example.json", import.meta.url));
const EXAMPLE_TOML = fileURLToPath(new URL("../../deploy/adp-serve.example.toml", import.meta.url));

function parse(argv: string[]) {
  return parseCommandArgs(serve as Command, argv)!;
}

for (const example of [EXAMPLE, EXAMPLE_TOML]) {
  Deno.test(`config - ${example.slice(-4)}: the example is read as shipped; flags beat ADP_ variables, which beat the file`, async () => {
    const args = parse(["--config", example, "--max-wait-ms", "3"]);
    const env: Record<string, string> = { ADP_MAX_BATCH: "16", ADP_MAX_WAIT_MS: "99", ADP_PASSWORD: "never" };
    const stations = await applyServeConfig(args, serve.flags, (n) => env[n]);
    assert.deepEqual(stations, { "line-1": {}, "line-2": { heatmapCount: 1000, heatmapBytes: 1073741824 } });
    assert.equal(args.values.model, "/opt/adp-edge/models/ViT-B-16:openai");
    assert.equal(args.values["state-dir"], "/var/lib/adp-edge");
    assert.equal(args.values.jetstream, true);
    assert.equal(args.values.http, "127.0.0.1:9464");
    assert.equal(args.values["inbox-prefix"], "_INBOX_adp");
    assert.equal(args.values["heatmap-bytes"], "268435456");
    assert.equal(args.values["max-batch"], "16"); // environment over file
    assert.equal(args.values["max-wait-ms"], "3"); // flag over environment
    assert.equal(args.values.password, undefined); // never from the environment's ADP_ names
  });
}

Deno.test("config - the JSON and TOML examples set exactly what the equivalent flags set", async () => {
  const flags = [
    ["--model", "/opt/adp-edge/models/ViT-B-16:openai"],
    ["--state-dir", "/var/lib/adp-edge"],
    ["--device", "auto"],
    ["--jetstream"],
    ["--inbox-prefix", "_INBOX_adp"],
    ["--http", "127.0.0.1:9464"],
    ["--log-format", "json"],
    ["--queue-group", "adp"],
    ["--max-batch", "8"],
    ["--max-wait-ms", "10"],
    ["--collect-timeout-s", "120"],
    ["--heatmap-count", "200"],
    ["--heatmap-bytes", "268435456"],
  ].flat();
  const byFlags = parse(flags);
  await applyServeConfig(byFlags, serve.flags, () => undefined);
  for (const example of [EXAMPLE, EXAMPLE_TOML]) {
    const byFile = parse(["--config", example]);
    await applyServeConfig(byFile, serve.flags, () => undefined);
    const { config, ...values } = byFile.values;
    assert.equal(config, example);
    assert.deepEqual({ ...values }, { ...byFlags.values }, example);
  }
});

Deno.test("config - credentials and unknown settings are refused; paths are relative to the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "adp-config-" });
  try {
    const write = async (o: unknown) => {
      const file = join(dir, "c.json");
      await Deno.writeTextFile(file, JSON.stringify(o));
      return file;
    };
    const bads = [
      { password: "x" },
      { token: "x" },
      { "max-batchh": 3 },
      { stations: { a: { thresh: 1 } } },
      { stations: { a: { "heatmap-count": 0 } } },
      { stations: { a: { "heatmap-bytes": "1 GB" } } },
    ];
    for (const bad of bads) {
      await assert.rejects(applyServeConfig(parse(["--config", await write(bad)]), serve.flags), ConfigError);
    }
    const toml = join(dir, "bad.toml");
    await Deno.writeTextFile(toml, "max-batch = [");
    await assert.rejects(applyServeConfig(parse(["--config", toml]), serve.flags), /is not TOML/);
    const paths = { model: "m/tiny", "state-dir": "state", backbone: "b/backbone.json" };
    const args = parse(["--config", await write(paths)]);
    await applyServeConfig(args, serve.flags, () => undefined);
    assert.equal(args.values.model, join(dir, "m/tiny"));
    assert.equal(args.values["state-dir"], join(dir, "state"));
    assert.equal(args.values.backbone, join(dir, "b/backbone.json"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "config - adp serve --config runs as the equivalent flags do, with a station's threshold",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await reliabilityModel();
    const stateDir = await stateDirWith(model.clip, ["line-1"]);
    const configDir = await Deno.makeTempDir({ prefix: "adp-config-" });
    const settings = {
      "max-batch": 4,
      "max-wait-ms": 7,
      "queue-group": "cfg",
      workers: 1,
      threads: 1,
      device: "cpu",
    };
    const statusOf = async (args: string[]): Promise<StatusReply> => {
      await using child = spawnAdp(["serve", ...args], { XDG_CACHE_HOME: model.xdg, NATS_URL: ns.url });
      await waitFor(() => child.stderr.some((l) => l.includes("adp serve: listening")), "adp serve", child);
      const nc = await ns.connect();
      const status = (await nc.request(serviceSubject(Endpoint.status), "", { timeout: 10_000 })).json<
        StatusReply
      >();
      await nc.close();
      assert.equal(await child.stop(), 0, child.stderr.join("\n"));
      return status;
    };
    try {
      const flags = Object.entries(settings).flatMap(([k, v]) => [`--${k}`, String(v)]);
      const byFlags = await statusOf(["--model", model.dir, "--state-dir", stateDir, ...flags]);
      await Deno.symlink(model.dir, join(configDir, "model"));
      await Deno.symlink(stateDir, join(configDir, "state"));
      const file = join(configDir, "adp-serve.json");
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          model: "model",
          "state-dir": "state",
          ...settings,
          stations: { "line-1": { threshold: 0.25 } },
        }),
      );
      const byConfig = await statusOf(["--config", file]);
      for (const key of ["queueGroup", "maxBatch", "maxWaitMs", "workers", "jetstream"] as const) {
        assert.equal(byConfig[key], byFlags[key], key);
      }
      assert.equal(byFlags.queueGroup, "cfg");
      assert.equal(byFlags.maxBatch, 4);
      assert.notEqual(byFlags.stations[0].threshold, 0.25);
      assert.equal(byConfig.stations[0].threshold, 0.25);
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
      await Deno.remove(configDir, { recursive: true });
    }
  },
});
