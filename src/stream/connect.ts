/**
 * Connecting to NATS with the authentication the CLI offers: user and password, a token, an nkey
 * seed file, TLS (CA, client certificate and key). The service reconnects forever; short-lived
 * clients give up after a few tries.
 *
 * @module
 */
import {
  connect,
  type ConnectionOptions,
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
  };
  if ((opts.user === undefined) !== (opts.password === undefined)) {
    throw new ConfigError("User and password go together: give both --user and --password, or neither");
  }
  const methods = [opts.user !== undefined, opts.token !== undefined, opts.nkeySeedFile !== undefined]
    .filter(Boolean).length;
  if (methods > 1) {
    throw new ConfigError("Give one of --user/--password, --token or --nkey-seed, not several");
  }
  if (opts.user !== undefined) {
    o.user = opts.user;
    o.pass = opts.password;
  }
  if (opts.token !== undefined) o.token = opts.token;
  if (opts.nkeySeedFile !== undefined) {
    let seed: string;
    try {
      seed = (await Deno.readTextFile(opts.nkeySeedFile)).trim();
    } catch (error) {
      throw new ConfigError(
        `Cannot read the nkey seed file ${opts.nkeySeedFile}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
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
