/**
 * The `tls {}` block of deploy/nats-server.conf, as shipped: `nats-server -t` passes with the example
 * environment once its TLS paths hold files deploy/make-tls.sh made (and fails, naming the file, while
 * they do not); on a running server a client trusting the CA (`adp status --tls-ca`) gets its reply,
 * one without the CA is refused, and a plain-text client is refused.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Endpoint, serviceSubject } from "../../src/stream/mod.ts";
import { findNatsServer } from "../../src/stream/nats_server.ts";
import { CONFIG, makeTls, parseEnvFile, startDeployServer } from "./_deploy_server.ts";
import { spawnAdp } from "./_serve.ts";

const ENV_EXAMPLE = fileURLToPath(new URL("../../deploy/nats-server.env.example", import.meta.url));

/** `nats-server -t -c deploy/nats-server.conf` with `env`: its exit code and what it printed. */
async function checkConfig(env: Record<string, string>): Promise<[number, string]> {
  const out = await new Deno.Command(await findNatsServer(), {
    args: ["-t", "-c", CONFIG],
    env,
    clearEnv: true,
  })
    .output();
  const text = new TextDecoder();
  return [out.code, text.decode(out.stdout) + text.decode(out.stderr)];
}

Deno.test("deploy/nats-server.conf passes nats-server -t with the example env and make-tls.sh's files", async () => {
  const example = parseEnvFile(await Deno.readTextFile(ENV_EXAMPLE));
  assert.deepEqual(
    [example.NATS_TLS_CERT, example.NATS_TLS_KEY],
    ["/etc/nats-server/tls/server.pem", "/etc/nats-server/tls/server-key.pem"],
  );
  const dir = await Deno.makeTempDir({ prefix: "adp-tls-check-" });
  try {
    const tls = await makeTls(dir);
    const [ok, okText] = await checkConfig({ ...example, ...tls.env });
    assert.equal(ok, 0, okText);
    assert.match(okText, /configuration file .* is valid/);
    // As shipped, on a host where the operator has not made the files yet: refused, and it says which.
    const exists = await Deno.stat(example.NATS_TLS_CERT).then(() => true, () => false);
    if (!exists) {
      const [code, text] = await checkConfig(example);
      assert.equal(code, 1, text);
      assert.match(text, /\/etc\/nats-server\/tls\/server\.pem: no such file or directory/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy/nats-server.conf speaks TLS only: adp status with --tls-ca is answered, without it is refused", async () => {
  await using server = await startDeployServer();
  const service = await server.as("adp");
  let asked = 0;
  service.subscribe(serviceSubject(Endpoint.status), {
    callback: (_error, msg) => {
      asked++;
      msg.respond(JSON.stringify({ instance: "tls-test" }));
    },
  });
  await service.flush();
  const operator = ["--user", "operator", "--inbox-prefix", "_INBOX_operator", "--json"];
  const env = { NATS_URL: server.url, NATS_PASSWORD: server.passwords.OPERATOR_PASSWORD };

  const trusted = spawnAdp(["status", ...operator, "--tls-ca", server.ca], env);
  assert.equal(await trusted.exited, 0, trusted.stderr.join("\n"));
  assert.equal(asked, 1);

  // Without the CA the server's certificate cannot be verified: exit 10 (the bus), nothing asked.
  const untrusted = spawnAdp(["status", ...operator], env);
  assert.equal(await untrusted.exited, 10, untrusted.stderr.join("\n"));
  assert.match(untrusted.stderr.join("\n"), /certificate/i);
  assert.equal(asked, 1);
});

Deno.test("deploy/nats-server.conf refuses a plain-text client: CONNECT and PING get no PONG, the socket closes", async () => {
  await using server = await startDeployServer();
  const { hostname, port } = new URL(server.url.replace(/^nats:/, "http:"));
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const received: string[] = [];
  const reading = (async () => {
    for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) received.push(chunk);
  })().catch(() => {});
  const until = Date.now() + 5000;
  while (!received.join("").includes("\r\n") && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const info = JSON.parse(/^INFO (\{.*\}) *\r\n/.exec(received.join(""))![1]);
  assert.equal(info.tls_required, true);
  const auth = JSON.stringify({ user: "operator", pass: server.passwords.OPERATOR_PASSWORD, verbose: false });
  const writer = conn.writable.getWriter();
  await writer.write(new TextEncoder().encode(`CONNECT ${auth}\r\nPING\r\n`)).catch(() => {});
  // The server expects a TLS handshake, takes the text for a broken one and closes the connection.
  const closed = await Promise.race([
    reading.then(() => "closed"),
    new Promise((r) => setTimeout(r, 10_000, "open")),
  ]);
  assert.equal(closed, "closed");
  assert.doesNotMatch(received.join(""), /PONG|\+OK/);
  await writer.close().catch(() => {});
});

Deno.test("deploy/make-tls.sh keeps an existing CA when it renews the server certificate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "adp-tls-renew-" });
  try {
    const first = await makeTls(dir);
    const ca = await Deno.readTextFile(first.ca);
    const cert = await Deno.readTextFile(first.env.NATS_TLS_CERT);
    await makeTls(dir);
    assert.equal(await Deno.readTextFile(join(dir, "ca.pem")), ca);
    assert.notEqual(await Deno.readTextFile(first.env.NATS_TLS_CERT), cert);
    const verify = await new Deno.Command("openssl", {
      args: ["verify", "-CAfile", first.ca, first.env.NATS_TLS_CERT],
    }).output();
    assert.ok(verify.success, new TextDecoder().decode(verify.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
