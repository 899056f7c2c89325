/**
 * deploy/nats-server-mqtt.conf run by a real nats-server: an MQTT client (npm mqtt) logged in as the
 * plc user follows adp/results/<station> and adp/anomalies/<station> while the service publishes on
 * NATS (over TLS, with deploy/make-tls.sh's files). Only ports, the store dir, the passwords and the
 * TLS paths differ from the shipped files.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import mqtt from "mqtt";
import { connect } from "@nats-io/transport-node";
import { findNatsServer } from "../../src/stream/nats_server.ts";
import { makeTls } from "./_deploy_server.ts";

const DEPLOY = fileURLToPath(new URL("../../deploy/", import.meta.url));

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitForPort(port: number, child: Deno.ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      if (Date.now() > deadline) {
        child.kill();
        throw new Error(`nats-server did not listen on ${port}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

Deno.test("deploy/nats-server-mqtt.conf carries results and anomalies to an MQTT client logged in as plc", async () => {
  const dir = await Deno.makeTempDir({ prefix: "adp-deploy-mqtt-" });
  const natsPort = freePort(), mqttPort = freePort();
  const main = await Deno.readTextFile(join(DEPLOY, "nats-server.conf"));
  await Deno.writeTextFile(
    join(dir, "nats-server.conf"),
    main.replace(/^(\s*store_dir:\s*)(\S+)\s*$/m, `$1"${join(dir, "js")}"`),
  );
  const mqttConf = await Deno.readTextFile(join(DEPLOY, "nats-server-mqtt.conf"));
  await Deno.writeTextFile(
    join(dir, "nats-server-mqtt.conf"),
    mqttConf.replace(/port: 1883/, `port: ${mqttPort}`),
  );
  const pw = (p: string) => `${p}${crypto.randomUUID().replaceAll("-", "")}`;
  const tls = await makeTls(join(dir, "tls"));
  const env = {
    ...tls.env,
    ADP_SERVICE_PASSWORD: pw("a"),
    CAMERA_LINE_1_PASSWORD: pw("c"),
    PLC_PASSWORD: pw("p"),
    OPERATOR_PASSWORD: pw("o"),
  };
  const child = new Deno.Command(await findNatsServer(), {
    args: ["-c", join(dir, "nats-server-mqtt.conf"), "-a", "127.0.0.1", "-p", String(natsPort), "-m", "0"],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitForPort(mqttPort, child);
    await waitForPort(natsPort, child);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
      username: "plc",
      password: env.PLC_PASSWORD,
      clientId: "dashboard-1",
      reconnectPeriod: 0,
    });
    const got: { topic: string; body: { frameId: string } }[] = [];
    client.on("message", (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) }));
    await client.subscribeAsync(["adp/results/+", "adp/anomalies/+"], { qos: 0 });
    const nc = await connect({
      servers: `nats://127.0.0.1:${natsPort}`,
      user: "adp",
      pass: env.ADP_SERVICE_PASSWORD,
      tls: { caFile: tls.ca },
    });
    nc.publish("adp.results.line-1", JSON.stringify({ station: "line-1", frameId: "f-1" }));
    nc.publish("adp.anomalies.line-1", JSON.stringify({ station: "line-1", frameId: "f-1" }));
    await nc.flush();
    const deadline = Date.now() + 5000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    deepStrictEqual(got.map((g) => g.topic).sort(), ["adp/anomalies/line-1", "adp/results/line-1"]);
    strictEqual(got[0].body.frameId, "f-1");
    await nc.close();
    await client.endAsync();
  } finally {
    child.kill();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});
