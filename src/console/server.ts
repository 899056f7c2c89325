/**
 * `adp console`'s process: an HTTP server for the web application, with login, in front of a
 * {@linkcode StationBoard} that follows the service over NATS. It talks to the service only over
 * the bus, so it may run on another machine and serve a cluster of instances.
 *
 * @module
 */
import type { BusConnection } from "../stream/mod.ts";
import { type ApiContext, handleApi, json } from "./api_routes.ts";
import { EnrollJobs } from "./enroll_jobs.ts";
import { ConsoleRequestError } from "./errors.ts";
import { readCookie, type Session, SESSION_COOKIE, SessionStore } from "./sessions.ts";
import { StationBoard } from "./station_board.ts";
import { staticFile } from "./static_files.ts";
import { type ConsoleUser, Role, verifyPassword } from "./users.ts";

/** Options of {@linkcode startConsole}. */
export interface ConsoleOptions {
  /** The connection to the service's bus. */
  nc: BusConnection;
  /** Who may log in. */
  users: Map<string, ConsoleUser>;
  /** Address to listen on. @default "127.0.0.1" */
  hostname?: string;
  /** Port to listen on; 0 picks a free one. @default 8080 */
  port?: number;
  /** Open the pages read-only without a login (loopback addresses only). @default false */
  viewerWithoutLogin?: boolean;
  /** How often the service's status is asked. @default 2000 */
  statusEveryMs?: number;
  /** Silence after which a station's frames count as stopped. @default 10000 */
  staleMs?: number;
  /** Where problems are reported. @default console.error */
  log?: (line: string) => void;
}

/** A running console. */
export interface ConsoleServer extends AsyncDisposable {
  /** `http://host:port/` */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Stops serving and following the bus (the connection stays open: it is the caller's). */
  stop(): Promise<void>;
}

const LOOPBACK_REGEXP = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * Starts the console: follows the bus, then serves the pages.
 *
 * @param opts connection, users, address
 * @returns the running server
 * @throws {ConsoleRequestError} when `viewerWithoutLogin` is asked on a non-loopback address
 *
 * @example
 * ```ts ignore
 * import { connectNats } from "../stream/mod.ts";
 * import { loadUsers, startConsole } from "./mod.ts";
 * const nc = await connectNats({ servers: "nats://127.0.0.1:4222" });
 * await using server = await startConsole({ nc, users: await loadUsers({ file: "users.txt" }) });
 * console.log(server.url);
 * ```
 */
export async function startConsole(opts: ConsoleOptions): Promise<ConsoleServer> {
  const hostname = opts.hostname ?? "127.0.0.1";
  if (opts.viewerWithoutLogin && !LOOPBACK_REGEXP.test(hostname)) {
    throw new ConsoleRequestError(
      `--viewer-without-login is refused on ${hostname}: only on a loopback address (127.0.0.1, ::1)`,
      400,
    );
  }
  const board = new StationBoard(opts.nc, opts);
  await board.start();
  const ctx: ApiContext = { nc: opts.nc, board, jobs: new EnrollJobs(opts.nc), streams: new Set() };
  const sessions = new SessionStore();
  const log = opts.log ?? ((line: string) => console.error(line));
  const server = Deno.serve(
    { hostname, port: opts.port ?? 8080, onListen: () => {} },
    (req) => route(req, { ctx, sessions, users: opts.users, open: opts.viewerWithoutLogin ?? false, log }),
  );
  const { port } = server.addr as Deno.NetAddr;
  const stop = async () => {
    // Event streams never end by themselves: close them, or shutdown waits for the browsers to leave.
    for (const close of [...ctx.streams]) close();
    await server.shutdown();
    await board.stop();
    await ctx.jobs.settled();
  };
  return {
    url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/`,
    port,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

interface RouteContext {
  ctx: ApiContext;
  sessions: SessionStore;
  users: Map<string, ConsoleUser>;
  open: boolean;
  log: (line: string) => void;
}

async function route(req: Request, rc: RouteContext): Promise<Response> {
  const path = new URL(req.url).pathname;
  try {
    const file = await staticFile(path);
    if (file) return file;
    if (!path.startsWith("/api/")) return new Response("Not found", { status: 404 });
    if (req.method === "POST" && req.headers.get("x-adp-console") !== "1") {
      // Forms of other sites cannot set this header: with SameSite cookies, no cross-site writes.
      throw new ConsoleRequestError("Requests that change something must come from the console's pages", 403);
    }
    if (path === "/api/login" && req.method === "POST") return await login(req, rc);
    const token = readCookie(req.headers.get("cookie"), SESSION_COOKIE);
    if (path === "/api/logout" && req.method === "POST") {
      rc.sessions.close(token);
      return json({ ok: true }, 200, clearCookie());
    }
    const session: Session | undefined = rc.sessions.get(token) ??
      (rc.open ? { user: "line-side screen", role: Role.viewer } : undefined);
    if (!session) return json({ error: "Log in first", login: true }, 401);
    return await handleApi(rc.ctx, req, session);
  } catch (error) {
    if (error instanceof ConsoleRequestError) return json({ error: error.message }, error.status);
    rc.log(`console: ${req.method} ${path} failed: ${(error as Error).stack ?? error}`);
    return json({ error: `Unexpected failure: ${(error as Error).message}` }, 500);
  }
}

async function login(req: Request, rc: RouteContext): Promise<Response> {
  let user: unknown, password: unknown;
  try {
    ({ user, password } = await req.json());
  } catch {
    throw new ConsoleRequestError("Send {user, password}", 400);
  }
  const known = typeof user === "string" ? rc.users.get(user) : undefined;
  if (!known || typeof password !== "string" || !verifyPassword(password, known.hash)) {
    await new Promise((r) => setTimeout(r, 250));
    return json({ error: "Unknown user or wrong password" }, 401);
  }
  const token = rc.sessions.open({ user: known.name, role: known.role });
  return json({ user: known.name, role: known.role }, 200, {
    "set-cookie": `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`,
  });
}

function clearCookie(): Record<string, string> {
  return { "set-cookie": `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` };
}
