/**
 * A real HTTP endpoint for webhook tests: records the event ids of the POSTs it answered with 2xx,
 * can fail its first N requests with 503, and can be stopped and started again on the same port.
 *
 * @module
 */
import { freePort } from "./_results.ts";

/** A recording endpoint. */
export interface Endpoint extends AsyncDisposable {
  readonly url: string;
  /** Event ids in the order they were accepted (2xx), grouped POSTs expanded. */
  readonly accepted: string[];
  /** Bodies accepted. */
  readonly bodies: Record<string, unknown>[];
  /** Requests seen, failed ones included. */
  requests: number;
  stop(): Promise<void>;
  start(): void;
}

/** Starts an endpoint at `http://127.0.0.1:<port>/hook` failing its first `failFirst` requests. */
export function endpoint(failFirst = 0): Endpoint {
  const port = freePort();
  let server: Deno.HttpServer | undefined;
  const e: Endpoint = {
    url: `http://127.0.0.1:${port}/hook`,
    accepted: [],
    bodies: [],
    requests: 0,
    async stop() {
      const s = server;
      server = undefined;
      await s?.shutdown();
    },
    start() {
      server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
        e.requests++;
        const body = await req.json() as Record<string, unknown>;
        if (e.requests <= failFirst) return new Response("not yet", { status: 503 });
        e.bodies.push(body);
        const events = (body.events as Record<string, unknown>[] | undefined) ?? [body];
        for (const ev of events) e.accepted.push(String(ev.eventId));
        return new Response(null, { status: 204 });
      });
    },
    [Symbol.asyncDispose]: () => e.stop(),
  };
  e.start();
  return e;
}
