/**
 * The roles of deploy/nats-server.conf (README, "Roles"), each proven both ways against a real
 * nats-server on that config and a real `adp serve` running as the `adp` user with its password
 * from the environment and JetStream on: the camera publishes its own frames (`adp camera` exits 0)
 * and is refused another line's (`adp camera` says so and exits 10); the operator sets thresholds,
 * reads status and profiles, asks for enrollments and reads heat maps, but cannot publish frames or
 * read other roles' replies; the PLC reads results, consumes ADP_ANOMALIES durably and reads heat
 * maps, but cannot enroll, set thresholds or read the operator's replies; a stranger cannot connect.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect, errors, type NatsConnection } from "@nats-io/transport-node";
import { needsShared, sharedPath } from "../_shared.ts";
import { type AnomalyMessage, Endpoint, serviceSubject } from "../../src/stream/mod.ts";
import { reliabilityModel, stateDirWith } from "../reliability/_fixture.ts";
import { asyncErrors, collect, startDeployServer, until } from "./_deploy_server.ts";
import { spawnAdp, waitFor } from "./_serve.ts";

/** Resolves with the subscription's end: a permissions error, or "open" after `ms`. */
async function subscriptionEnd(nc: NatsConnection, subject: string, ms = 3000): Promise<unknown> {
  const sub = nc.subscribe(subject);
  return await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r("open"), ms))]);
}

/** A request's outcome: the reply's text, or the error's class name. */
async function ask(nc: NatsConnection, subject: string, body: unknown): Promise<string> {
  try {
    return (await nc.request(subject, JSON.stringify(body), { timeout: 3000 })).string();
  } catch (error) {
    return `error: ${(error as Error).name}: ${(error as Error).message}`;
  }
}

Deno.test({
  name:
    "deploy roles - camera, operator, plc and service each allowed and refused as the README's table says",
  ...needsShared,
  async fn() {
    await using server = await startDeployServer();
    await using model = await reliabilityModel();
    const stateDir = await stateDirWith(model.clip, ["line-1"]);
    const frames = await Deno.makeTempDir({ prefix: "adp-roles-frames-" });
    try {
      await Deno.copyFile(
        sharedPath("datasets/mvtec-ad/bottle/test/broken_large/000.png"),
        join(frames, "000.png"),
      );
      await using serve = spawnAdp([
        "serve",
        "--model",
        model.dir,
        "--state-dir",
        stateDir,
        "--device",
        "cpu",
        "--threads",
        "1",
        "--jetstream",
        "--inbox-prefix",
        "_INBOX_adp",
      ], {
        XDG_CACHE_HOME: model.xdg,
        NATS_URL: server.url,
        NATS_USER: "adp",
        NATS_PASSWORD: server.passwords.ADP_SERVICE_PASSWORD,
        NATS_CA: server.ca,
      });
      await waitFor(() => serve.stderr.some((l) => l.includes("adp serve: listening")), "adp serve", serve);

      const operator = await server.as("operator");
      const plc = await server.as("plc");
      // Operator: status, profiles, threshold (low enough that every frame is anomalous).
      const status = JSON.parse(await ask(operator, serviceSubject(Endpoint.status), {}));
      assert.equal(status.jetstream, true);
      const profiles = JSON.parse(await ask(operator, serviceSubject(Endpoint.profilesList), {}));
      assert.deepEqual(profiles.profiles.map((p: { station: string }) => p.station), ["line-1"]);
      const set = JSON.parse(
        await ask(operator, serviceSubject(Endpoint.thresholdSet), { station: "line-1", threshold: -1e6 }),
      );
      assert.equal(set.threshold, -1e6, JSON.stringify(set));
      // Operator: an enrollment request reaches the service and its answer comes back (refused: no shots).
      const enroll = await ask(operator, "adp.enroll.line-1", { shots: 0 });
      assert.doesNotMatch(enroll, /^error:/, enroll);

      // PLC: a durable consumer on ADP_ANOMALIES, results.
      const jsm = await jetstreamManager(plc);
      await jsm.consumers.add("ADP_ANOMALIES", { durable_name: "plc-1", ack_policy: AckPolicy.Explicit });
      // … and on ADP_RESULTS, where it reads what it missed while disconnected.
      await jsm.consumers.add("ADP_RESULTS", { durable_name: "plc-1", ack_policy: AckPolicy.Explicit });
      const plcResults = collect(plc, "adp.results.line-1");
      await plc.flush();

      // Camera: its own line, via the CLI with credentials from the environment.
      const cameraEnv = {
        NATS_URL: server.url,
        NATS_USER: "camera-line-1",
        NATS_PASSWORD: server.passwords.CAMERA_LINE_1_PASSWORD,
        NATS_CA: server.ca,
      };
      const own = spawnAdp(["camera", "--station", "line-1", "--dir", frames, "--count", "1"], cameraEnv);
      assert.equal(await own.exited, 0, own.stderr.join("\n"));
      const other = spawnAdp(["camera", "--station", "line-2", "--dir", frames, "--count", "1"], cameraEnv);
      assert.equal(await other.exited, 10, other.stderr.join("\n"));
      assert.match(other.stderr.join("\n"), /refused.*adp\.frames\.line-2/i);

      await until(() => plcResults.length >= 1, "the result at the plc", 30_000);
      const consumer = await jetstream(plc).consumers.get("ADP_ANOMALIES", "plc-1");
      const msg = await consumer.next({ expires: 20_000 });
      assert.ok(msg, "an anomaly event for the PLC's durable consumer");
      const event = msg.json<AnomalyMessage>();
      msg.ack();
      assert.equal(event.station, "line-1");
      assert.equal(event.heatmap?.store, "object-store", JSON.stringify(event.heatmap));
      // Both may read the heat map.
      for (const reader of [plc, operator]) {
        const bucket = await new Objm(reader).open("adp-heatmaps");
        const png = await bucket.getBlob(event.heatmap!.key);
        assert.ok(png && png[0] === 0x89 && png[1] === 0x50, "a PNG");
      }

      // Feedback reaches the service from the operator and the PLC (this frame id is unknown: its 404 says so).
      for (const sender of [operator, plc]) {
        const reply = await ask(sender, "adp.feedback.line-1", { frameId: "no-such-frame", label: "good" });
        assert.match(reply, /"status":404/, reply);
      }

      // Refusals. The PLC may not enroll nor set thresholds (no reply: the publish is refused).
      const plcErrors = asyncErrors(plc);
      assert.match(
        await ask(plc, serviceSubject(Endpoint.thresholdSet), { station: "line-1", threshold: 1 }),
        /^error/,
      );
      assert.match(await ask(plc, "adp.enroll.line-1", { shots: 0 }), /^error/);
      await until(
        () => plcErrors.some((e) => e instanceof errors.PermissionViolationError),
        "the plc's refusal",
      );
      // Nobody reads another role's replies or the default inboxes.
      for (
        const [nc, subject] of [[operator, "_INBOX_plc.>"], [plc, "_INBOX_operator.>"], [
          operator,
          "_INBOX.>",
        ]] as const
      ) {
        const end = await subscriptionEnd(nc, subject);
        assert.ok(end instanceof errors.PermissionViolationError, `${subject}: ${String(end)}`);
      }
      // The operator may not publish frames; the PLC may not subscribe to them.
      const operatorErrors = asyncErrors(operator);
      operator.publish("adp.frames.line-1", "forged");
      await operator.flush();
      await until(() => operatorErrors.some((e) => e instanceof errors.PermissionViolationError), "refusal");
      assert.ok((await subscriptionEnd(plc, "adp.frames.>")) instanceof errors.PermissionViolationError);
      // A stranger is not let in.
      const stranger = await connect({
        servers: server.url,
        user: "adp",
        pass: "wrong",
        reconnect: false,
        tls: { caFile: server.ca },
      })
        .then((nc) => nc.close().then(() => "connected"), (e: Error) => e.message);
      assert.match(stranger, /Authorization Violation/i);

      assert.equal(await serve.stop(), 0, serve.stderr.join("\n"));
      assert.ok(!serve.stderr.some((l) => /Permissions Violation/i.test(l)), serve.stderr.join("\n"));
    } finally {
      await Deno.remove(stateDir, { recursive: true });
      await Deno.remove(frames, { recursive: true });
    }
  },
});
