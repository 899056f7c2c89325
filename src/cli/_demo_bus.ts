/**
 * The demo's bus: the NATS server at `$NATS_URL` when it answers, takes the demo's frame sizes and
 * runs no other `adp` service (which would take the demo's frames too); otherwise a private
 * nats-server on a free loopback port, stopped at the end.
 *
 * @module
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type NatsServerProcess, SERVICE_NAME, startNatsServer } from "../stream/mod.ts";
import { type Cleanup, say } from "./_demo_console.ts";

/** The private server's message size limit: MVTec frames are up to a few MiB. */
const PRIVATE_MAX_PAYLOAD = 8 * 1024 * 1024;

/** A connection the demo made, and the private server behind it if the demo started one. */
export interface Bus {
  /** The server's URL (several comma-separated for a cluster). */
  url: string;
  /** The private server, when the demo started it. */
  server?: NatsServerProcess;
}

/** `NATS_URL` may list several servers, comma-separated. */
export function servers(url: string): string[] {
  return url.split(",").map((s) => s.trim()).filter(Boolean);
}

/** A probe connection to `url`, or why there is none. */
async function tryConnect(url: string): Promise<NatsConnection | Error> {
  try {
    return await connect({ servers: servers(url), name: "adp demo probe", timeout: 2000, reconnect: false });
  } catch (error) {
    return error as Error;
  }
}

/** Drains a connection (what it published reaches the server); closes it if that takes over 5 s. */
export async function closeConnection(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), 5000));
  const outcome = await Promise.race([nc.drain().catch(() => "failed" as const), timeout]);
  clearTimeout(timer);
  if (outcome !== undefined && !nc.isClosed()) await nc.close().catch(() => {});
}

/** Whether an `adp` service already answers on this bus (it would take the demo's frames too). */
async function otherServiceAnswers(nc: NatsConnection): Promise<boolean> {
  try {
    await nc.request(`$SRV.PING.${SERVICE_NAME}`, undefined, { timeout: 500 });
    return true;
  } catch {
    return false;
  }
}

/** The private server while it runs, for a second Ctrl-C that quits at once. */
let privateServer: NatsServerProcess | undefined;

/** The private server while it runs; undefined when the demo uses another server or stopped its own. */
export function runningPrivateServer(): NatsServerProcess | undefined {
  return privateServer;
}

/** Starts a private nats-server (JetStream on, store in `dir`) and waits until it listens. */
async function startPrivateServer(dir: string, cleanup: Cleanup): Promise<Bus> {
  let server;
  try {
    server = await startNatsServer({ dir, maxPayload: PRIVATE_MAX_PAYLOAD, detached: true });
  } catch (error) {
    throw new Error(
      `No NATS server answers and a private one cannot start: ${(error as Error).message}; ` +
        "or point NATS_URL at a running server",
      { cause: error },
    );
  }
  privateServer = server;
  cleanup.defer("stopping nats-server", async () => {
    privateServer = undefined;
    await server.stop();
    say(`stopped nats-server (pid ${server.pid})`);
  });
  return { url: server.url, server };
}

/** The bus the demo uses: a server that answers at NATS_URL if suitable, else a private one. */
export async function ensureBus(tempDir: string, cleanup: Cleanup, largestFrame: number): Promise<Bus> {
  const url = Deno.env.get("NATS_URL") ?? "nats://127.0.0.1:4222";
  const probe = await tryConnect(url);
  let why: string;
  if (probe instanceof Error) {
    why = `cannot use ${url} (${probe.message})`;
  } else {
    const maxPayload = probe.info?.max_payload ?? 0;
    const busy = await otherServiceAnswers(probe);
    await probe.close();
    if (busy) {
      why = `an adp service already runs on ${url} and would take the demo's frames too`;
    } else if (maxPayload < largestFrame) {
      why =
        `the server at ${url} refuses messages over ${maxPayload} bytes, frames have up to ${largestFrame}`;
    } else {
      say(`nats: using the server at ${url}`);
      return { url };
    }
  }
  const bus = await startPrivateServer(tempDir, cleanup);
  say(`nats: ${why}; started nats-server (pid ${bus.server!.pid}) at ${bus.url}, JetStream on`);
  return bus;
}
