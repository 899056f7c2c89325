import assert from "node:assert/strict";
import { hashPassword, parseUsers, startConsole } from "../../src/console/mod.ts";
import { headers } from "@nats-io/transport-node";
import { framesSubject, Header } from "../../src/stream/mod.ts";
import { cleanup, setup } from "../_nats.ts";

const users = parseUsers(`ada:operator:${hashPassword("op")},vic:viewer:${hashPassword("view")}`, "test");
const WRITE = { "content-type": "application/json", "x-adp-console": "1" };

async function loginCookie(url: string, user: string, password: string): Promise<string> {
  const res = await fetch(`${url}api/login`, {
    method: "POST",
    headers: WRITE,
    body: JSON.stringify({ user, password }),
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
  return res.headers.get("set-cookie")!.split(";")[0];
}

Deno.test("startConsole() serves the app and its libraries, and the API only after a login", async () => {
  const ns = await setup({ jetstream: false });
  try {
    await using server = await startConsole({
      nc: await ns.connect("console"),
      users,
      port: 0,
      log: () => {},
    });
    const index = await fetch(server.url);
    assert.match(await index.text(), /importmap/);
    const preact = await fetch(`${server.url}vendor/preact.mjs`);
    assert.match(preact.headers.get("content-type")!, /javascript/);
    await preact.body?.cancel();
    assert.equal(
      (await fetch(`${server.url}vendor/../../etc/passwd`).then(async (r) => (await r.body?.cancel(), r)))
        .status,
      404,
    );
    const anonymous = await fetch(`${server.url}api/stations`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const wrong = await fetch(`${server.url}api/login`, {
      method: "POST",
      headers: WRITE,
      body: JSON.stringify({ user: "ada", password: "guess" }),
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const cookie = await loginCookie(server.url, "ada", "op");
    const me = await fetch(`${server.url}api/me`, { headers: { cookie } });
    assert.deepEqual(await me.json(), { user: "ada", role: "operator" });
    // A write without the console's header (a form of another site) is refused.
    const forged = await fetch(`${server.url}api/stations/line-1/threshold`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json" },
      body: JSON.stringify({ threshold: 1 }),
    });
    assert.equal(forged.status, 403);
    await forged.body?.cancel();
    // No service answers: the stations list says so.
    const stations = await fetch(`${server.url}api/stations`, { headers: { cookie } });
    assert.deepEqual(await stations.json(), { serviceUp: false, tiles: [] });
  } finally {
    await cleanup(ns);
  }
});

Deno.test("startConsole() refuses viewers without login off loopback and opens read-only pages on it", async () => {
  const ns = await setup({ jetstream: false });
  try {
    const nc = await ns.connect("console");
    await assert.rejects(
      startConsole({ nc, users, hostname: "0.0.0.0", port: 0, viewerWithoutLogin: true, log: () => {} }),
      /only on a loopback address/,
    );
    await using server = await startConsole({ nc, users, port: 0, viewerWithoutLogin: true, log: () => {} });
    const me = await fetch(`${server.url}api/me`);
    assert.equal((await me.json()).role, "viewer");
    const upload = await fetch(`${server.url}api/stations/line-1/upload`, {
      method: "POST",
      headers: { "content-type": "image/png", "x-adp-console": "1" },
      body: new Uint8Array([0x89, 0x50]),
    });
    assert.equal(upload.status, 403);
    await upload.body?.cancel();
    // A station the console has seen: viewers read its history but may neither label nor roll back.
    const h = headers();
    h.set(Header.frameId, "f-1");
    nc.publish(framesSubject("line-1"), new Uint8Array([0x89, 0x50]), { headers: h });
    await nc.flush();
    for (
      const [what, body] of [["feedback", { frameId: "f-1", label: "good" }], ["rollback", { version: 1 }]]
    ) {
      const res = await fetch(`${server.url}api/stations/line-1/${what}`, {
        method: "POST",
        headers: WRITE,
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 403, `a viewer's ${what}`);
      await res.body?.cancel();
    }
    // No service answers: the history request says so.
    const history = await fetch(`${server.url}api/stations/line-1/history`);
    assert.equal(history.status, 503);
    assert.match((await history.json()).error, /adp\.svc\.profiles\.history/);
  } finally {
    await cleanup(ns);
  }
});
