/**
 * A real nats-server for tests: `setup()` starts one on a free loopback port (JetStream on, its
 * store in a temporary folder), `cleanup()` stops it and removes the folder. Tests never mock the
 * bus. `restart()` stops the process and starts it again on the same port and store, for tests of
 * reconnection and of what JetStream keeps across a restart.
 *
 * @module
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { join } from "node:path";

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
  process: Deno.ChildProcess;
  clients: NatsConnection[];
  configFile: string;
}

const NATS_SERVER = ["nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"];

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function serverBinary(): Promise<string> {
  for (const candidate of NATS_SERVER) {
    try {
      const out = await new Deno.Command(candidate, { args: ["--version"], stdout: "null", stderr: "null" })
        .output();
      if (out.success) return candidate;
    } catch {
      // not at this place: try the next
    }
  }
  throw new Error(
    "nats-server was not found on PATH or in /usr/sbin: install it (apt-get install nats-server)",
  );
}

async function waitForPort(port: number, process: Deno.ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  process.status.then(() => exited = true);
  while (Date.now() < deadline) {
    if (exited) throw new Error(`nats-server exited before listening on port ${port}`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`nats-server did not listen on port ${port} within ${timeoutMs} ms`);
}

async function spawn(binary: string, configFile: string, port: number): Promise<Deno.ChildProcess> {
  const process = new Deno.Command(binary, {
    args: ["-c", configFile],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    await waitForPort(port, process);
  } catch (error) {
    const stderr = await new Response(process.stderr).text().catch(() => "");
    throw new Error(`${(error as Error).message}\n${stderr.slice(-2000)}`, { cause: error });
  }
  // The log is not read, so it must not fill the pipe and stall the server.
  process.stderr.pipeTo(new WritableStream()).catch(() => {});
  return process;
}

/**
 * Starts a nats-server on a free loopback port.
 *
 * @param opts JetStream, payload limit, extra configuration
 * @returns the running server; pass it to {@linkcode cleanup}
 */
export async function setup(opts: SetupOptions = {}): Promise<NatsTestServer> {
  const binary = await serverBinary();
  const dir = await Deno.makeTempDir({ prefix: "adp-nats-" });
  const port = freePort();
  const jetstream = opts.jetstream ?? true;
  const configFile = join(dir, "nats-server.conf");
  const lines = [
    `listen: "127.0.0.1:${port}"`,
    `max_payload: ${opts.maxPayload ?? 8 * 1024 * 1024}`,
    ...(jetstream ? [`jetstream { store_dir: "${join(dir, "js")}" }`] : []),
    opts.config ?? "",
  ];
  await Deno.writeTextFile(configFile, lines.join("\n") + "\n");
  const state: ServerState = {
    port,
    url: `nats://127.0.0.1:${port}`,
    dir,
    configFile,
    clients: [],
    process: await spawn(binary, configFile, port),
    async restart() {
      state.process.kill("SIGTERM");
      await state.process.status;
      state.process = await spawn(binary, configFile, port);
    },
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
  try {
    state.process.kill("SIGTERM");
  } catch {
    // already gone
  }
  await state.process.status;
  await Deno.remove(state.dir, { recursive: true }).catch(() => {});
}
