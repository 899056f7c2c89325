/**
 * deploy/nats-server.conf as shipped, run by a real nats-server: its per-role subject permissions
 * hold. Only what cannot work here is changed: the client port (`-p`, a free loopback one), the
 * monitoring port (`-m 0`, off) and the JetStream store dir. nats-server 2.9 refuses `-sd` beside a
 * config that sets `store_dir` ("Duplicate 'store_dir' configuration"), so the store dir is
 * replaced in a copy of the file, and that is the only line that differs.
 */
import assert from "node:assert/strict";
import { errors } from "@nats-io/transport-node";
import { asyncErrors, collect, startDeployServer, until } from "./_deploy_server.ts";

Deno.test("deploy/nats-server.conf lets camera-line-1 publish its own frames and nothing of line-2", async () => {
  await using server = await startDeployServer();
  const service = await server.as("adp");
  const frames = collect(service, "adp.frames.>");
  await service.flush();

  const camera = await server.as("camera-line-1");
  const refused = asyncErrors(camera);
  // Sent first: were it allowed, it would reach the service before line-1's frame does.
  camera.publish("adp.frames.line-2", "frame of another line");
  camera.publish("adp.frames.line-1", "frame of line 1");
  await camera.flush();

  await until(() => frames.length >= 1, "the line-1 frame at the service");
  // A round trip of the service's connection: anything the server routed before now has arrived.
  await service.flush();
  assert.deepEqual(frames.map((m) => [m.subject, m.string()]), [["adp.frames.line-1", "frame of line 1"]]);
  await until(() => refused.length >= 1, "the camera's permissions error");
  const violation = refused[0];
  assert.ok(violation instanceof errors.PermissionViolationError, String(violation));
  assert.equal(violation.operation, "publish");
  assert.equal(violation.subject, "adp.frames.line-2");
});

Deno.test("deploy/nats-server.conf lets the plc read results but refuses its subscription to frames", async () => {
  await using server = await startDeployServer();
  const plc = await server.as("plc");
  const results = collect(plc, "adp.results.>");
  const framesSub = plc.subscribe("adp.frames.>");
  await plc.flush();

  const service = await server.as("adp");
  service.publish("adp.results.line-1", JSON.stringify({ station: "line-1", score: 0.1 }));
  await service.flush();
  await until(() => results.length >= 1, "the result at the plc");
  assert.equal(results[0].subject, "adp.results.line-1");
  assert.deepEqual(results[0].json(), { station: "line-1", score: 0.1 });

  // The server refuses the subscription; nats.js closes it with the permissions error.
  const closed = await Promise.race([
    framesSub.closed,
    new Promise<"open">((r) => setTimeout(() => r("open"), 5000)),
  ]);
  assert.ok(closed instanceof errors.PermissionViolationError, `subscription ended with ${String(closed)}`);
  assert.equal(closed.operation, "subscription");
  assert.equal(closed.subject, "adp.frames.>");
  assert.ok(framesSub.isClosed());
});

Deno.test({
  // nats-server reads `publish: []` and `subscribe: []` as "no restriction", not "nothing": the config
  // denies with `{ deny: [">"] }` instead, and this test keeps it that way.
  name: "deploy/nats-server.conf lets the camera subscribe to nothing and the plc publish nothing",
  async fn() {
    await using server = await startDeployServer();
    const camera = await server.as("camera-line-1");
    const resultsSub = camera.subscribe("adp.results.>");
    await camera.flush();
    const closed = await Promise.race([
      resultsSub.closed,
      new Promise<"open">((r) => setTimeout(() => r("open"), 2000)),
    ]);
    assert.ok(closed instanceof errors.PermissionViolationError, `camera subscription: ${String(closed)}`);

    const service = await server.as("adp");
    const frames = collect(service, "adp.frames.>");
    await service.flush();
    const plc = await server.as("plc");
    plc.publish("adp.frames.line-1", "forged frame");
    await plc.flush();
    await service.flush();
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(frames.map((m) => m.string()), []);
  },
});

Deno.test({
  // The service's endpoints live on adp.svc.<name> (src/stream/subjects.ts), which the `adp` user may
  // not subscribe to nor the operator publish to: `adp status` cannot work. The fix is "adp.svc.>" in
  // the adp user's subscribe list and in the operator's publish list.
  name: "deploy/nats-server.conf lets the service answer adp.svc.* and the operator ask it",
  async fn() {
    await using server = await startDeployServer();
    const service = await server.as("adp");
    const endpoint = service.subscribe("adp.svc.status", {
      callback: (error, msg) => {
        if (!error) msg.respond("status");
      },
    });
    await service.flush();
    const operator = await server.as("operator");
    const reply = await operator.request("adp.svc.status", "", { timeout: 2000 });
    assert.equal(reply.string(), "status");
    assert.ok(!endpoint.isClosed());
  },
});

Deno.test("deploy/nats-server.conf lets one connection hold 10,000 subscriptions and refuses the next", async () => {
  await using server = await startDeployServer();
  const plc = await server.as("plc");
  const refused = asyncErrors(plc);
  const got: string[] = [];
  for (let i = 0; i <= 10_000; i++) {
    plc.subscribe(`adp.results.s-${i}`, { callback: (_e, m) => void got.push(m.subject) });
  }
  await plc.flush();
  await until(() => refused.length >= 1, "the server's refusal of subscription 10,001");
  assert.match(String(refused[0]), /maximum subscriptions exceeded/i);

  const service = await server.as("adp");
  service.publish("adp.results.s-9999", "the 10,000th");
  service.publish("adp.results.s-10000", "the 10,001st");
  await service.flush();
  await until(() => got.length >= 1, "the result on the 10,000th subscription");
  // A round trip of both: anything routed to the PLC has arrived.
  await service.flush();
  await plc.flush();
  assert.deepEqual(got, ["adp.results.s-9999"]);
  assert.ok(!plc.isClosed(), "the connection stays; only the subscription is refused");
});
