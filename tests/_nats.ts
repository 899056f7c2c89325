/**
 * A real nats-server for tests: `setup()` starts one on a free loopback port (JetStream on, its
 * store in a temporary folder), `cleanup()` stops it and removes the folder. Tests never mock the
 * bus. `restart()` stops the process and starts it again on the same port and store, for tests of
 * reconnection and of what JetStream keeps across a restart.
 *
 * @module
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
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

/** A running cluster of test servers (JetStream on each), one client URL per node. */
export interface NatsTestCluster {
  readonly nodes: NatsTestServer[];
}

/**
 * Starts `size` nats-servers on free loopback ports routed into one cluster with JetStream, and
 * waits until JetStream answers on every node (its meta leader elected).
 *
 * @param size nodes; @default 3
 * @returns the cluster; pass it to {@linkcode cleanupCluster}
 */
export async function setupCluster(size = 3): Promise<NatsTestCluster> {
  const routePorts = Array.from({ length: size }, () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    return port;
  });
  const nodes: NatsTestServer[] = [];
  for (const [i, port] of routePorts.entries()) {
    const routes = routePorts.filter((_, j) => j !== i).map((p) => `"nats://127.0.0.1:${p}"`);
    nodes.push(
      await setup({
        config: `server_name: n${i}\ncluster { name: adp, listen: "127.0.0.1:${port}", routes: [${
          routes.join(", ")
        }] }`,
      }),
    );
  }
  for (const node of nodes) {
    const nc = await node.connect("cluster-check");
    for (let attempt = 0;; attempt++) {
      try {
        await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo();
        break;
      } catch (error) {
        if (attempt >= 60) throw new Error(`JetStream not ready on the cluster: ${error}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await nc.close();
  }
  return { nodes };
}

/** Stops every node of a cluster. */
export async function cleanupCluster(cluster: NatsTestCluster): Promise<void> {
  await Promise.all(cluster.nodes.map(cleanup));
}
