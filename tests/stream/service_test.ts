/**
 * The `adp` NATS micro service: $SRV.PING/INFO/STATS, the status endpoint, profiles list/get/delete
 * and the persisted threshold, with clear service errors for bad requests and unknown stations.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Msg } from "@nats-io/transport-node";
import { ServiceError, Svcm } from "@nats-io/services";
import { loadProfile } from "../../src/adp/profile.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import type { ProfileListReply, StatusReply } from "../../src/stream/messages.ts";
import { Endpoint, framesSubject, SERVICE_NAME, serviceSubject } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, sendFrame, sleep, stateDirWith, tinyModel } from "./_fixture.ts";

const quiet = () => {};

function serviceError(msg: Msg): { code: number; message: string } | null {
  const e = ServiceError.toServiceError(msg as never);
  return e ? { code: e.code, message: e.message } : null;
}

Deno.test({
  name: "the adp service answers $SRV PING, INFO and STATS and lists its endpoints",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await Deno.makeTempDir();
    try {
      const client = await ns.connect("client");
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      const ping = (await client.request(`$SRV.PING.${SERVICE_NAME}`)).json<{ type: string; name: string }>();
      assert.equal(ping.type, "io.nats.micro.v1.ping_response");
      assert.equal(ping.name, "adp");
      const info = (await client.request(`$SRV.INFO.${SERVICE_NAME}`)).json<
        {
          endpoints: { name: string; subject: string; queue_group: string }[];
          metadata: Record<string, string>;
        }
      >();
      assert.deepEqual(info.endpoints.map((e) => e.subject).sort(), [
        "adp.svc.enroll.cancel",
        "adp.svc.profiles.delete",
        "adp.svc.profiles.export",
        "adp.svc.profiles.get",
        "adp.svc.profiles.history",
        "adp.svc.profiles.import",
        "adp.svc.profiles.list",
        "adp.svc.profiles.rollback",
        "adp.svc.roi.set",
        "adp.svc.status",
        "adp.svc.threshold.set",
      ]);
      assert.equal(info.endpoints.find((e) => e.name === "status")!.queue_group, "");
      assert.equal(info.endpoints.find((e) => e.name === "profiles-list")!.queue_group, "adp");
      assert.equal(info.metadata.instance, processor.instance);
      await client.request(serviceSubject(Endpoint.status));
      // The services client, as other tools would use it.
      const stats = [];
      for await (const s of await new Svcm(client as never).client().stats(SERVICE_NAME)) stats.push(s);
      assert.equal(stats.length, 1);
      assert.equal(stats[0].endpoints!.find((e) => e.name === "status")!.num_requests, 1);
      await processor.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the adp service reports status, gets and deletes profiles, and persists thresholds",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { alpha: {}, beta: { version: 3 } });
    try {
      const client = await ns.connect("client");
      const json = async (endpoint: Endpoint, body = "") => {
        const msg = await client.request(serviceSubject(endpoint), body);
        const error = serviceError(msg);
        return error ? { error } : msg.json<Record<string, unknown>>();
      };
      let processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      for (let i = 0; i < 3; i++) sendFrame(client, framesSubject("alpha"), await bottle(i + 10), `a${i}`);
      sendFrame(client, framesSubject("gamma"), await bottle(1), "g0");
      await client.flush();
      for (
        let i = 0;
        i < 100 && processor.status().stations.find((s) => s.station === "alpha")?.scored !== 3;
        i++
      ) {
        await sleep(20);
      }

      const status = (await json(Endpoint.status)) as unknown as StatusReply;
      assert.equal(status.instance, processor.instance);
      assert.equal(status.model.hash, model.clip.hash);
      const alpha = status.stations.find((s) => s.station === "alpha")!;
      assert.equal(alpha.profileVersion, 1);
      assert.equal(alpha.scored, 3);
      assert.equal(alpha.latencyMs.count, 3);
      assert.ok(alpha.latencyMs.p99! >= alpha.latencyMs.p50!);
      assert.deepEqual(status.stations.find((s) => s.station === "gamma")!.dropped, { "no-profile": 1 });

      const list = (await json(Endpoint.profilesList)) as unknown as ProfileListReply;
      assert.deepEqual(list.profiles.map((p) => [p.station, p.version, p.label]), [
        ["alpha", 1, "bottle"],
        ["beta", 3, "bottle"],
      ]);
      const got = await json(Endpoint.profilesGet, '{"station":"beta"}') as { meta: { version: number } };
      assert.equal(got.meta.version, 3);

      const set = await json(Endpoint.thresholdSet, '{"station":"alpha","threshold":1.25}');
      assert.equal(set.threshold, 1.25);
      assert.equal((await loadProfile(join(stateDir, "profiles", "alpha.safetensors"))).meta.threshold, 1.25);

      // Errors: code and reason in the service error headers.
      const bad: [Endpoint, string, number, RegExp][] = [
        [Endpoint.profilesGet, '{"station":"nobody"}', 404, /Station nobody has no profile/],
        [Endpoint.profilesGet, '{"station":"../etc"}', 400, /station must be a station id/],
        [Endpoint.profilesGet, "{", 400, /not valid JSON/],
        [
          Endpoint.thresholdSet,
          '{"station":"alpha","threshold":"high"}',
          400,
          /threshold must be a finite number/,
        ],
        [Endpoint.thresholdSet, '{"station":"alpha","threshold":1,"x":2}', 400, /unknown field "x"/],
        [Endpoint.profilesDelete, '{"station":"nobody"}', 404, /no profile/],
      ];
      for (const [endpoint, body, code, message] of bad) {
        const { error } = await json(endpoint, body) as { error: { code: number; message: string } };
        assert.equal(error?.code, code, `${endpoint} ${body}`);
        assert.match(error.message, message);
      }

      const deleted = await json(Endpoint.profilesDelete, '{"station":"beta"}');
      assert.deepEqual(deleted, { station: "beta", deleted: true, version: 3 });
      sendFrame(client, framesSubject("beta"), await bottle(2), "b-after");
      await client.flush();
      await processor.stop();
      assert.equal(processor.status().stations.find((s) => s.station === "beta")!.dropped["no-profile"], 1);

      // After a restart: the threshold set before is in force, the deleted profile stays gone.
      processor = await startProcessor(await ns.connect("service-2"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      const again = (await json(Endpoint.profilesList)) as unknown as ProfileListReply;
      assert.deepEqual(again.profiles.map((p) => [p.station, p.threshold]), [["alpha", 1.25]]);
      await processor.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
