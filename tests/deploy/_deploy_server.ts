/**
 * deploy/nats-server.conf as shipped, run by a real nats-server for the deploy tests. Only what
 * cannot work here is changed: the client port (`-p`, a free loopback one), the monitoring port
 * (`-m 0`, off) and the JetStream store dir. nats-server 2.9 refuses `-sd` beside a config that sets
 * `store_dir` ("Duplicate 'store_dir' configuration"), so the store dir is replaced in a copy of the
 * file, and the `http:` line is dropped (`-m 0` does not override it). The TLS files are made per
 * server by deploy/make-tls.sh, as an operator makes them, and every client trusts its CA. Each role
 * connects with its own inbox prefix (`_INBOX_<role>`), as the config's permissions expect.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { connect, type ConnectionOptions, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { findNatsServer } from "../../src/stream/nats_server.ts";

export const CONFIG = fileURLToPath(new URL("../../deploy/nats-server.conf", import.meta.url));
const MAKE_TLS = fileURLToPath(new URL("../../deploy/make-tls.sh", import.meta.url));
const HTTP_REGEXP = /^http: 127\.0\.0\.1:\d+$/m;
const STORE_DIR_REGEXP = /^(\s*store_dir:\s*)(\S+)\s*$/m;

/** The inbox prefix role of each user (cameras make no requests). */
export const INBOX_ROLE: Record<string, string | undefined> = {
  adp: "adp",
  plc: "plc",
  operator: "operator",
};

/** The passwords the config reads from the environment, fresh per server. */
export interface Passwords {
  ADP_SERVICE_PASSWORD: string;
  CAMERA_LINE_1_PASSWORD: string;
  PLC_PASSWORD: string;
  OPERATOR_PASSWORD: string;
}

/** The TLS files deploy/make-tls.sh wrote, and the variables the config reads them from. */
export interface TlsFiles {
  /** The CA clients trust (`--tls-ca`, NATS_CA). */
  ca: string;
  env: { NATS_TLS_CERT: string; NATS_TLS_KEY: string };
}

/**
 * Runs deploy/make-tls.sh: a throwaway CA and a certificate for 127.0.0.1 and localhost in `dir`.
 *
 * @param dir where the files go
 * @returns the CA and the config's variables
 */
export async function makeTls(dir: string): Promise<TlsFiles> {
  const out = await new Deno.Command("sh", {
    args: [MAKE_TLS, dir, "127.0.0.1", "localhost"],
    stdout: "null",
  })
    .output();
  if (!out.success) throw new Error(`deploy/make-tls.sh: ${new TextDecoder().decode(out.stderr)}`);
  return {
    ca: join(dir, "ca.pem"),
    env: { NATS_TLS_CERT: join(dir, "server.pem"), NATS_TLS_KEY: join(dir, "server-key.pem") },
  };
}

export interface DeployServer extends AsyncDisposable {
  url: string;
  passwords: Passwords;
  /** The CA clients must trust: the server speaks TLS only. */
  ca: string;
  /** The folder holding the config copy and the store (removed on dispose). */
  dir: string;
  /** Connects as `user` with its password and its role's inbox prefix (closed on dispose). */
  as(user: "adp" | "camera-line-1" | "plc" | "operator"): Promise<NatsConnection>;
}

/**
 * A random password nats-server can take from the environment. It parses the variable's value as a
 * config value, so one starting with a digit is read as a number (or refused): start with a letter.
 */
export function password(): string {
  return `p${crypto.randomUUID().replaceAll("-", "")}`;
}

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * KEY=VALUE lines (comments and blanks skipped), as systemd's EnvironmentFile and compose's env_file
 * read them.
 *
 * @param text the file's text
 * @returns the variables
 */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m && !line.trimStart().startsWith("#")) env[m[1]] = m[2].trim();
  }
  return env;
}

/** Starts nats-server on deploy/nats-server.conf (port, monitoring and store dir overridden). */
export async function startDeployServer(): Promise<DeployServer> {
  const binary = await findNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "adp-deploy-nats-" });
  const text = await Deno.readTextFile(CONFIG);
  assert.equal(text.match(new RegExp(STORE_DIR_REGEXP, "gm"))?.length, 1, "one store_dir line expected");
  const configFile = join(dir, "nats-server.conf");
  assert.match(text, HTTP_REGEXP, "monitoring bound to loopback expected");
  // Monitoring off: `-m 0` does not override an `http:` address, and tests run side by side.
  const copy = text.replace(STORE_DIR_REGEXP, `$1"${join(dir, "jetstream")}"`).replace(HTTP_REGEXP, "");
  await Deno.writeTextFile(configFile, copy);
  const passwords: Passwords = {
    ADP_SERVICE_PASSWORD: password(),
    CAMERA_LINE_1_PASSWORD: password(),
    PLC_PASSWORD: password(),
    OPERATOR_PASSWORD: password(),
  };
  const tls = await makeTls(join(dir, "tls"));
  const port = freePort();
  const process = new Deno.Command(binary, {
    args: ["-c", configFile, "-a", "127.0.0.1", "-p", String(port), "-m", "0"],
    env: { ...passwords, ...tls.env },
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
    dir,
    passwords,
    ca: tls.ca,
    async as(user) {
      const opts: ConnectionOptions = {
        servers: url,
        tls: { caFile: tls.ca },
        user,
        pass: passwordOf[user],
        name: user,
        reconnect: false,
      };
      const role = INBOX_ROLE[user];
      if (role) opts.inboxPrefix = `_INBOX_${role}`;
      const nc = await connect(opts);
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
export function asyncErrors(nc: NatsConnection): Error[] {
  const seen: Error[] = [];
  (async () => {
    for await (const s of nc.status()) if (s.type === "error") seen.push(s.error);
  })();
  return seen;
}

/** Messages on `subject` as `nc` receives them. */
export function collect(nc: NatsConnection, subject: string): Msg[] {
  const got: Msg[] = [];
  nc.subscribe(subject, { callback: (_error, msg) => void got.push(msg) });
  return got;
}

export async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
