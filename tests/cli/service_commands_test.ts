/**
 * The commands for the service's endpoints (`adp threshold get|set`, `adp profiles list|get|delete`)
 * against a real nats-server and service, and the JSON body a refused request now carries.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli as run } from "../_cli.ts";
import { enroll, saveProfile } from "../../src/adp/mod.ts";
import { Endpoint, serviceSubject, startProcessor } from "../../src/stream/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";
import { tinyModel } from "../stream/_fixture.ts";

Deno.test({
  name: "adp threshold and adp profiles read, change and delete a station's profile on the service",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    await using state = await tempDir();
    try {
      const shots = await Promise.all(
        ["000", "001"].map((n) => Deno.readFile(sharedPath(`datasets/mvtec-ad/bottle/train/good/${n}.png`))),
      );
      const profile = await enroll(model.clip, shots, { steps: 1, seed: 4, station: "line-1" });
      await Deno.mkdir(join(state.path, "profiles"));
      await saveProfile(join(state.path, "profiles", "line-1.safetensors"), profile);
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir: state.path,
        log: () => {},
      });
      try {
        const nats = ["--nats", ns.url];
        const list = await run(["profiles", "list", ...nats, "--json"]);
        assert.equal(list.code, 0, list.err);
        const listed = JSON.parse(list.out);
        assert.deepEqual(listed.profiles.map((p: { station: string }) => p.station), ["line-1"]);

        const before = await run(["threshold", "get", ...nats, "--station", "line-1", "--json"]);
        assert.equal(JSON.parse(before.out).threshold, profile.meta.threshold);
        const set = await run(["threshold", "set", ...nats, "--station", "line-1", "--threshold", "7.5"]);
        assert.equal(set.code, 0, set.err);
        assert.match(set.out, /line-1: threshold .* → 7\.5/);
        const after = await run(["threshold", "get", ...nats, "--station", "line-1", "--json"]);
        assert.equal(JSON.parse(after.out).threshold, 7.5);

        const unknown = await run(["threshold", "set", ...nats, "--station", "nowhere", "--threshold", "1"]);
        assert.equal(unknown.code, 2, "a refused request is a usage error");
        assert.match(unknown.err, /^adp threshold set: .*nowhere/);
        assert.equal(unknown.err.split("\n").length, 1);

        const got = await run(["profiles", "get", ...nats, "--station", "line-1"]);
        assert.equal(JSON.parse(got.out).meta.threshold, 7.5);
        const deleted = await run(["profiles", "delete", ...nats, "--station", "line-1"]);
        assert.equal(deleted.code, 0, deleted.err);
        assert.equal(JSON.parse((await run(["profiles", "list", ...nats, "--json"])).out).profiles.length, 0);
      } finally {
        await processor.stop();
      }
    } finally {
      await cleanup(ns);
    }
  },
});

Deno.test({
  name:
    "a refused service request carries a JSON body with the status and the sentence, as well as the headers",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    await using state = await tempDir();
    try {
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir: state.path,
        log: () => {},
      });
      try {
        const client = await ns.connect("client");
        const reply = await client.request(serviceSubject(Endpoint.thresholdSet), "{not json", {
          timeout: 5000,
        });
        const status = Number(reply.headers?.get("Nats-Service-Error-Code"));
        assert.equal(status, 400);
        const body = reply.json<{ error: { status: number; message: string } }>();
        assert.equal(body.error.status, 400);
        assert.equal(body.error.message, reply.headers?.get("Nats-Service-Error"));
        assert.match(body.error.message, /not valid JSON/);
      } finally {
        await processor.stop();
      }
    } finally {
      await cleanup(ns);
    }
  },
});
