/**
 * deploy/nats-server.conf as shipped, run by a real nats-server: its per-role subject permissions
 * hold. Only what cannot work here is changed: the client port (`-p`, a free loopback one), the
 * monitoring port (`-m 0`, off) and the JetStream store dir. nats-server 2.9 refuses `-sd` beside a
 * config that sets `store_dir` ("Duplicate 'store_dir' configuration"), so the store dir is
 * replaced in a copy of the file, and that is the only line that differs.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { connect, errors, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { findNatsServer } from "../../src/stream/nats_server.ts";

const CONFIG = fileURLToPath(new URL("../../deploy/nats-server.conf", import.meta.url));
const STORE_DIR_REGEXP = /^(\s*store_dir:\s*)(\S+)\s*$/m;

/** The passwords the config reads from the environment, fresh per server. */
interface Passwords {
  ADP_SERVICE_PASSWORD: string;
  CAMERA_LINE_1_PASSWORD: string;
  PLC_PASSWORD: string;
  OPERATOR_PASSWORD: string;
}

interface DeployServer extends AsyncDisposable {
  url: string;
  passwords: Passwords;
  /** Connects as `user` with its password (closed on dispose). */
  as(user: "adp" | "camera-line-1" | "plc" | "operator"): Promise<NatsConnection>;
}

/**
 * A random password nats-server can take from the environment. It parses the variable's value as a
 * config value, so one starting with a digit is read as a number (or refused): start with a letter.
 */
function password(): string {
  return `p${crypto.randomUUID().replaceAll("-", "")}`;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts nats-server on deploy/nats-server.conf (port, monitoring and store dir overridden). */
async function startDeployServer(): Promise<DeployServer> {
  const binary = await findNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "adp-deploy-nats-" });
  const text = await Deno.readTextFile(CONFIG);
  assert.equal(text.match(new RegExp(STORE_DIR_REGEXP, "gm"))?.length, 1, "one store_dir line expected");
  const configFile = join(dir, "nats-server.conf");
  await Deno.writeTextFile(configFile, text.replace(STORE_DIR_REGEXP, `$1"${join(dir, "jetstream")}"`));
  const passwords: Passwords = {
    ADP_SERVICE_PASSWORD: password(),
    CAMERA_LINE_1_PASSWORD: password(),
    PLC_PASSWORD: password(),
    OPERATOR_PASSWORD: password(),
  };
  const port = freePort();
  const process = new Deno.Command(binary, {
    args: ["-c", configFile, "-a", "127.0.0.1", "-p", String(port), "-m", "0"],
    env: { ...passwords },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  const logDone = process.stderr.pipeTo(
    new WritableStream({ write: (chunk) => void (log = (log + decoder.decode(chunk)).slice(-8000)) }),
  ).catch(() => {});
  let exited = false;
  const status = process.status.finally(() => exited = true);
  const stop = async () => {
    if (!exited) process.kill("SIGTERM");
    await status;
    await logDone;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const deadline = Date.now() + 10_000;
  while (true) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`nats-server did not start on ${CONFIG}:\n${log}`);
    }
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const url = `nats://127.0.0.1:${port}`;
  const clients: NatsConnection[] = [];
  const passwordOf = {
    adp: passwords.ADP_SERVICE_PASSWORD,
    "camera-line-1": passwords.CAMERA_LINE_1_PASSWORD,
    plc: passwords.PLC_PASSWORD,
    operator: passwords.OPERATOR_PASSWORD,
  };
  return {
    url,
    passwords,
    async as(user) {
      const nc = await connect({ servers: url, user, pass: passwordOf[user], name: user, reconnect: false });
      clients.push(nc);
      return nc;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(clients.map((nc) => nc.isClosed() ? undefined : nc.close().catch(() => {})));
      await stop();
    },
  };
}

/** Collects a connection's asynchronous errors (what the server says about refused operations). */
function asyncErrors(nc: NatsConnection): Error[] {
  const seen: Error[] = [];
  (async () => {
    for await (const s of nc.status()) if (s.type === "error") seen.push(s.error);
  })();
  return seen;
}

/** Messages on `subject` as `nc` receives them. */
function collect(nc: NatsConnection, subject: string): Msg[] {
  const got: Msg[] = [];
  nc.subscribe(subject, { callback: (_error, msg) => void got.push(msg) });
  return got;
}

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

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
