import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { startWebhookBridge } from "../../src/bridges/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { anomaly, publishAnomaly, waitFor } from "./_results.ts";
import { endpoint } from "./_endpoint.ts";

const quiet = () => {};

Deno.test("startWebhookBridge() with JetStream delivers every event exactly once through failures and an endpoint restart", async () => {
  const server = await setup();
  await using hook = endpoint(5);
  try {
    const nc = await server.connect();
    await using bridge = await startWebhookBridge(nc, {
      url: hook.url,
      jetstream: true,
      backoffMs: 20,
      maxBackoffMs: 200,
      log: quiet,
    });
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      for (const station of ["line-1", "line-2"]) {
        publishAnomaly(nc, anomaly(station, `part-${i}`));
        ids.push(`${station}.part-${i}`);
      }
      if (i === 4) {
        await waitFor(() => hook.accepted.length >= 4, 10_000, "some deliveries");
        await hook.stop();
        await new Promise((r) => setTimeout(r, 400));
        hook.start();
      }
    }
    publishAnomaly(nc, anomaly("line-1", "part-3")); // a duplicate the stream drops by its id
    await waitFor(() => hook.accepted.length >= ids.length, 15_000, `${ids.length} deliveries`);
    await new Promise((r) => setTimeout(r, 300));
    deepStrictEqual([...hook.accepted].sort(), [...ids].sort(), "every event exactly once");
    ok(hook.requests >= ids.length + 5, `the first 5 requests failed: ${hook.requests}`);
    const body = hook.bodies.find((b) => b.eventId === "line-2.part-7")!;
    strictEqual(body.station, "line-2");
    strictEqual(body.frameId, "part-7");
    deepStrictEqual((body.heatmap as { key: string }).key, "line-2/part-7.png");
    const s = bridge.stats();
    strictEqual(s.delivered, ids.length);
    ok(s.failedPosts >= 5, JSON.stringify(s));
  } finally {
    await cleanup(server);
  }
});

Deno.test("startWebhookBridge() with JetStream loses nothing across a bridge restart while the endpoint is down", async () => {
  const server = await setup();
  await using hook = endpoint();
  await hook.stop();
  try {
    const nc = await server.connect();
    const first = await startWebhookBridge(nc, { url: hook.url, jetstream: true, backoffMs: 20, log: quiet });
    for (let i = 0; i < 6; i++) publishAnomaly(nc, anomaly("press", `p-${i}`));
    await waitFor(() => first.stats().failedPosts >= 2, 5000, "failed attempts");
    strictEqual(first.stats().delivered, 0);
    await first.stop();
    hook.start();
    await using second = await startWebhookBridge(nc, {
      url: hook.url,
      jetstream: true,
      backoffMs: 20,
      log: quiet,
    });
    await waitFor(() => hook.accepted.length >= 6, 10_000, "6 deliveries after the restart");
    await new Promise((r) => setTimeout(r, 300));
    deepStrictEqual(
      hook.accepted,
      Array.from({ length: 6 }, (_, i) => `press.p-${i}`),
      "in order, once each",
    );
    strictEqual(second.stats().delivered, 6);
  } finally {
    await cleanup(server);
  }
});

Deno.test("startWebhookBridge() groups a station's burst into fewer POSTs, each event in exactly one", async () => {
  const server = await setup({ jetstream: false });
  await using hook = endpoint();
  try {
    const nc = await server.connect();
    await using bridge = await startWebhookBridge(nc, { url: hook.url, groupMs: 150, log: quiet });
    for (let i = 0; i < 8; i++) publishAnomaly(nc, anomaly("line-9", `b-${i}`));
    await waitFor(() => hook.accepted.length >= 8, 5000, "8 events");
    deepStrictEqual(hook.accepted, Array.from({ length: 8 }, (_, i) => `line-9.b-${i}`));
    ok(hook.bodies.length < 8, `grouped: ${hook.bodies.length} POSTs`);
    strictEqual(hook.bodies[0].station, "line-9");
    await waitFor(() => bridge.stats().delivered === 8, 2000, "the bridge to count 8 deliveries");
  } finally {
    await cleanup(server);
  }
});
