/**
 * Connecting to NATS with the authentication the CLI offers: a JWT credentials file, user and
 * password, a token, an nkey seed file, TLS (CA, client certificate and key). Secrets come from
 * files or the environment ({@linkcode natsOptionsFromEnv}), so they never need to be on a command
 * line, where `/proc/<pid>/cmdline` shows them to every local user. The service reconnects forever;
 * short-lived clients give up after a few tries. Bridges and the console connect the same way.
 *
 * @module
 */
import {
  connect,
  type ConnectionOptions,
  credsAuthenticator,
  errors,
  type NatsConnection,
  nkeyAuthenticator,
} from "@nats-io/transport-node";
import { ConfigError } from "../errors.ts";
import { BusError } from "./errors.ts";

/**
 * The connection the service and its clients run on: nats.js's own `NatsConnection`, named here so
 * that the library's signatures can state it without re-exporting nats.js's whole surface.
 */
export type BusConnection = NatsConnection;

/** How to reach and authenticate to NATS. */
export interface NatsConnectOptions {
  /** Server URLs, comma-separated. @default "nats://127.0.0.1:4222" */
  servers?: string;
  /** Connection name shown by the server's monitoring. */
  name?: string;
  /** User name, with `password`. */
  user?: string;
  /** Password of `user`. */
  password?: string;
  /** An authentication token. */
  token?: string;
  /** A file holding an nkey seed (`SU…`). */
  nkeySeedFile?: string;
  /** A NATS credentials file (`.creds`: the user JWT and its nkey seed), as `nsc` writes it. */
  credsFile?: string;
  /** Prefix of this client's reply subjects (`_INBOX_<role>`), so a role's permissions can keep other clients' replies from it. */
  inboxPrefix?: string;
  /** CA certificate (PEM file) the server's certificate is checked against; turns TLS on. */
  tlsCa?: string;
  /** Client certificate (PEM file), with `tlsKey`, for servers that verify clients. */
  tlsCert?: string;
  /** Private key (PEM file) of `tlsCert`. */
  tlsKey?: string;
  /** Reconnect forever (a service) instead of a few tries (a command line client). @default false */
  persistent?: boolean;
}

/**
 * Opens a connection.
 *
 * @param opts servers and credentials
 * @returns the connection
 * @throws {ConfigError} for inconsistent credentials or an unreadable seed file
 */
export async function connectNats(opts: NatsConnectOptions = {}): Promise<BusConnection> {
  const o: ConnectionOptions & { tls?: Record<string, string> | null } = {
    servers: (opts.servers ?? "nats://127.0.0.1:4222").split(",").map((s) => s.trim()).filter(Boolean),
    name: opts.name,
    maxReconnectAttempts: opts.persistent ? -1 : 10,
    reconnectTimeWait: 1000,
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
  };
  if ((opts.user === undefined) !== (opts.password === undefined)) {
    throw new ConfigError(
      "User and password go together: give --user with NATS_PASSWORD (or NATS_USER and NATS_PASSWORD), or neither",
    );
  }
  const methods = [
    opts.user !== undefined,
    opts.token !== undefined,
    opts.nkeySeedFile !== undefined,
    opts.credsFile !== undefined,
  ].filter(Boolean).length;
  if (methods > 1) {
    throw new ConfigError("Give one of --creds, --user/--password, --token or --nkey-seed, not several");
  }
  if (opts.credsFile !== undefined) {
    const creds = await readSecret(opts.credsFile, "credentials");
    if (!/-----BEGIN NATS USER JWT-----/.test(creds) || !/-----BEGIN USER NKEY SEED-----/.test(creds)) {
      throw new ConfigError(
        `File ${opts.credsFile} is not a NATS credentials file (a user JWT and its seed)`,
      );
    }
    o.authenticator = credsAuthenticator(new TextEncoder().encode(creds));
  }
  if (opts.user !== undefined) {
    o.user = opts.user;
    o.pass = opts.password;
  }
  if (opts.token !== undefined) o.token = opts.token;
  if (opts.nkeySeedFile !== undefined) {
    const seed = (await readSecret(opts.nkeySeedFile, "nkey seed")).trim();
    if (!/^S[A-Z2-7]{50,}$/.test(seed)) {
      throw new ConfigError(
        `File ${opts.nkeySeedFile} does not hold an nkey seed (expected a line starting S)`,
      );
    }
    o.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (opts.tlsCa || opts.tlsCert || opts.tlsKey) {
    if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
      throw new ConfigError("A client certificate needs its key: give both --tls-cert and --tls-key");
    }
    o.tls = {
      ...(opts.tlsCa ? { caFile: opts.tlsCa } : {}),
      ...(opts.tlsCert ? { certFile: opts.tlsCert, keyFile: opts.tlsKey! } : {}),
    };
  }
  try {
    return await connect(o);
  } catch (error) {
    throw new BusError(
      `Cannot connect to NATS at ${(o.servers as string[]).join(", ")}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

async function readSecret(file: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    throw new ConfigError(`Cannot read the ${what} file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * The server and credentials the environment names, as the `nats` CLI and nats.go read them:
 * `NATS_URL`, `NATS_CREDS` (a credentials file), `NATS_USER` with `NATS_PASSWORD`, `NATS_TOKEN`,
 * `NATS_NKEY` (an nkey seed file), `NATS_CA`, `NATS_CERT`, `NATS_KEY`. Empty variables count as
 * unset.
 *
 * @param env reads a variable
 * @returns the options they set (none set: an empty object)
 */
export function natsOptionsFromEnv(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): NatsConnectOptions {
  const v = (name: string) => {
    const value = env(name);
    return value === undefined || value === "" ? undefined : value;
  };
  const out: NatsConnectOptions = {
    servers: v("NATS_URL"),
    credsFile: v("NATS_CREDS"),
    user: v("NATS_USER"),
    password: v("NATS_PASSWORD"),
    token: v("NATS_TOKEN"),
    nkeySeedFile: v("NATS_NKEY"),
    tlsCa: v("NATS_CA"),
    tlsCert: v("NATS_CERT"),
    tlsKey: v("NATS_KEY"),
  };
  for (const key of Object.keys(out) as (keyof NatsConnectOptions)[]) {
    if (out[key] === undefined) delete out[key];
  }
  return out;
}

/**
 * A request's failure as one clear error: no responder and timeouts become a {@linkcode BusError}
 * saying that no service answered on `subject`; other errors are returned unchanged.
 */
export function explainRequestError(error: unknown, subject: string): unknown {
  if (
    error instanceof errors.RequestError || error instanceof errors.TimeoutError ||
    error instanceof errors.NoRespondersError
  ) {
    const noResponders = error instanceof errors.NoRespondersError ||
      (error instanceof errors.RequestError && error.isNoResponders());
    const what = noResponders ? "nothing listens" : "no reply came";
    return new BusError(`No adp service answered on ${subject} (${what}): is adp serve running?`, {
      cause: error,
    });
  }
  return error;
}
