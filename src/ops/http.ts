/**
 * The operations HTTP endpoint a long-running process serves beside its bus work: `GET /metrics`
 * (Prometheus text), `GET /healthz` (the process answers: alive) and `GET /readyz` (every readiness
 * check passes: 200, else 503 with the failing checks). Bridges and the console can serve the same
 * three paths with their own metrics and checks.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/** A named readiness check: true when that part is ready. */
export type ReadinessChecks = Record<string, () => boolean>;

/** Options of {@linkcode startOpsServer}. */
export interface OpsServerOptions {
  /** `HOST:PORT` to listen on (`127.0.0.1:9464`; port 0 picks a free one). */
  listen: string;
  /** The exposition text and its content type; `/metrics` answers 404 without it. */
  metrics?: { metrics(): Promise<string>; contentType: string };
  /** Readiness checks of `/readyz`; all must pass. */
  ready?: ReadinessChecks;
  /** One line saying what is down, added to a 503 of `/readyz` (the bridges' watchdog reason). */
  detail?: () => string;
  /** Where a failed scrape is reported. */
  log?: (line: string) => void;
}

/** A running operations endpoint. */
export interface OpsServer extends AsyncDisposable {
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on (the chosen one when asked for 0). */
  readonly port: number;
  /** Stops listening. */
  close(): Promise<void>;
}

/**
 * Parses `HOST:PORT` (`[::1]:9464` for IPv6).
 *
 * @param listen the address
 * @returns host and port
 * @throws {ConfigError} when it is not HOST:PORT with a port from 0 to 65535
 */
export function parseListen(listen: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError(`--http wants HOST:PORT (127.0.0.1:9464), not ${JSON.stringify(listen)}`);
  }
  return { hostname: m[1] ?? m[2], port };
}

/**
 * Starts the endpoint.
 *
 * @param opts address, metrics and readiness checks
 * @returns the running server
 */
export function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const { hostname, port } = parseListen(opts.listen);
  const text = (body: string, status = 200, type = "text/plain; charset=utf-8") =>
    new Response(body, { status, headers: { "content-type": type, "cache-control": "no-store" } });
  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (req.method !== "GET" && req.method !== "HEAD") return text("method not allowed\n", 405);
    if (path === "/healthz") return text("ok\n");
    if (path === "/readyz") {
      const failing = Object.entries(opts.ready ?? {}).filter(([, check]) => !safe(check)).map(([n]) => n);
      if (!failing.length) return text("ready\n");
      const detail = opts.detail ? `: ${safeText(opts.detail)}` : "";
      return text(`not ready: ${failing.join(", ")}${detail}\n`, 503);
    }
    if (path === "/metrics" && opts.metrics) {
      try {
        return text(await opts.metrics.metrics(), 200, opts.metrics.contentType);
      } catch (error) {
        opts.log?.(`error: /metrics failed: ${(error as Error).message}`);
        return text("metrics failed\n", 500);
      }
    }
    return text("not found (try /metrics, /healthz, /readyz)\n", 404);
  };
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        hostname,
        port,
        onListen: (addr) => {
          resolve({
            hostname: addr.hostname,
            port: addr.port,
            close: () => server.shutdown(),
            [Symbol.asyncDispose]: () => server.shutdown(),
          });
        },
      }, handler);
    } catch (error) {
      reject(
        new ConfigError(`Cannot listen on ${opts.listen} for /metrics: ${(error as Error).message}`, {
          cause: error,
        }),
      );
    }
  });
}

function safeText(detail: () => string): string {
  try {
    return detail();
  } catch (error) {
    return `(the reason failed: ${(error as Error).message})`;
  }
}

function safe(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}
