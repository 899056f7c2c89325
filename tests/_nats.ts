/**
 * A real nats-server for tests: `setup()` starts one on a free loopback port (JetStream on, its
 * store in a temporary folder), `cleanup()` stops it and removes the folder. Tests never mock the
 * bus. `restart()` stops the process and starts it again on the same port and store, for tests of
 * reconnection and of what JetStream keeps across a restart.
 *
 * @module
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type NatsServerProcess, startNatsServer } from "../src/stream/nats_server.ts";

/** Options of {@linkcode setup}. */
export interface SetupOptions {
  /** @default true */
  jetstream?: boolean;
  /** Largest message the server accepts; @default 8 MiB (frames are bigger than the 1 MiB default). */
  maxPayload?: number;
  /** Extra lines of server configuration (authorization blocks, TLS). */
  config?: string;
}

/** A running test server. */
export interface NatsTestServer {
  readonly port: number;
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  /** Temporary folder holding the JetStream store and the config file. */
  readonly dir: string;
  /** Stops the server process and starts it again on the same port with the same store. */
  restart(): Promise<void>;
  /** Connects a client (closed by {@linkcode cleanup} if the test forgets). */
  connect(name?: string): Promise<NatsConnection>;
}

interface ServerState extends NatsTestServer {
  server: NatsServerProcess;
  clients: NatsConnection[];
}

/**
 * Starts a nats-server on a free loopback port.
 *
 * @param opts JetStream, payload limit, extra configuration
 * @returns the running server; pass it to {@linkcode cleanup}
 */
export async function setup(opts: SetupOptions = {}): Promise<NatsTestServer> {
  const dir = await Deno.makeTempDir({ prefix: "adp-nats-" });
  const server = await startNatsServer({ dir, ...opts });
  const state: ServerState = {
    port: server.port,
    url: server.url,
    dir,
    server,
    clients: [],
    restart: () => server.restart(),
    async connect(name = "test") {
      const nc = await connect({ servers: state.url, name });
      state.clients.push(nc);
      return nc;
    },
  };
  return state;
}

/** Closes clients left open, stops the server and removes its folder. */
export async function cleanup(server: NatsTestServer): Promise<void> {
  const state = server as ServerState;
  await Promise.all(state.clients.map((nc) => nc.isClosed() ? undefined : nc.close().catch(() => {})));
  await state.server.stop();
  await Deno.remove(state.dir, { recursive: true }).catch(() => {});
}
