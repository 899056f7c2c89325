/**
 * `adp bridge opcua | modbus | webhook`, and `adp bridge --config FILE` running several together:
 * plant connectivity out of the bus, with a watchdog that tells the PLC when the chain is down.
 *
 * @module
 */
// Types only: the bridges (node-opcua is large) load when a bridge command runs, not with every command.
import type { BridgeConfig } from "../bridges/mod.ts";
import { ConfigError } from "../errors.ts";
import {
  type Command,
  type FlagSpec,
  intFlag,
  type ParsedArgs,
  requireString,
  UsageError,
} from "./_command.ts";
import { connectFromFlags, NATS_FLAGS, NATS_USAGE } from "./_nats.ts";

const COMMON_FLAGS: FlagSpec = {
  ...NATS_FLAGS,
  station: { type: "string", multiple: true },
  "stale-after": { type: "string" },
  "no-service-check": { type: "boolean" },
  http: { type: "string" },
};

const COMMON_USAGE = `
  --station S        a station shown from the start (repeat for several; others appear with their
                     first result)
  --stale-after MS   the chain is down when a station has had no result for this long (default off)
  --no-service-check do not watch adp serve's status endpoint (by default the chain is down when no
                     instance has answered for 5 s)
  --http PORT        serve /metrics, /healthz and /readyz (503 naming what is down while the chain
                     is down), as adp serve does, on 127.0.0.1:PORT`;

/** `adp bridge opcua` */
export const bridgeOpcua: Command = {
  name: "bridge opcua",
  summary: "OPC UA server with each station's verdict, counters and the chain's heartbeat",
  usage: `
adp bridge opcua --port P [--nats URL] [--users FILE] [--secure-only] [--pki DIR] [...]

Variables ns=1;s=<station>.Anomalous (Boolean), .Score, .Threshold (Double), .FrameId (String),
.ProfileVersion, .FramesScored, .FramesAnomalous (UInt64), .LastResultAt (DateTime), .Valid,
.Healthy, .Acknowledged, .LastError; methods <station>.Acknowledge() and
<station>.RequestEnrollment(Shots); ns=1;s=Chain.Healthy, Chain.Heartbeat, Chain.Reason.
  --port P           TCP port (4840 is OPC UA's)
  --users FILE       JSON [{"user": …, "password": …}]: sessions need one of them (no anonymous)
  --secure-only      offer Sign and SignAndEncrypt only (no security mode None)
  --trust-all-clients  accept every client certificate (commissioning only)
  --pki DIR          the server's certificate store (own/, trusted/, rejected/)
  --hostname H       a further name clients reach the server by (advertised in its endpoints)
  --min-publishing-interval MS  fastest subscription publishing interval granted, and the window
                     over which on-change items coalesce (default 5; a data change reaches a client
                     within about twice this)${COMMON_USAGE}${NATS_USAGE}`,
  flags: {
    ...COMMON_FLAGS,
    port: { type: "string" },
    users: { type: "string" },
    "secure-only": { type: "boolean" },
    "trust-all-clients": { type: "boolean" },
    pki: { type: "string" },
    hostname: { type: "string", multiple: true },
    "min-publishing-interval": { type: "string" },
  },
  async run(args) {
    const users = args.values.users
      ? JSON.parse(await Deno.readTextFile(String(args.values.users))) as { user: string; password: string }[]
      : undefined;
    if (users && (!Array.isArray(users) || users.some((u) => typeof u.user !== "string"))) {
      throw new ConfigError(`--users ${args.values.users} must hold [{"user": …, "password": …}]`);
    }
    await runBridges(args, {
      ...common(args),
      opcua: {
        port: intFlag(args, "port", -1, [0, 65535]),
        users,
        allowUnsecured: !args.values["secure-only"],
        trustAllClients: Boolean(args.values["trust-all-clients"]),
        pkiDir: args.values.pki as string | undefined,
        hostnames: args.values.hostname as string[] | undefined,
        minPublishingIntervalMs: args.values["min-publishing-interval"] === undefined
          ? undefined
          : intFlag(args, "min-publishing-interval", 0, [1, 60_000]),
      },
    });
  },
};

/** `adp bridge modbus` */
export const bridgeModbus: Command = {
  name: "bridge modbus",
  summary: "Modbus TCP server with each station's verdict coil, score, counters and a heartbeat",
  usage: `
adp bridge modbus --port P --map FILE [--nats URL] [--host 0.0.0.0] [...]

The register map (FILE, JSON; see docs/BRIDGES.md and deploy/modbus-map.example.json) places each
station's block: coils verdict, valid, healthy, acknowledged (written by the PLC); holding registers
score×1000, threshold×1000, frame counter, frames scored and anomalous (32 bits), profile version,
heartbeat, status bits. Without --map, --station places stations at coil 8·(i+1), register 16·(i+1).
  --port P       TCP port (502 is Modbus's; it needs privileges)
  --map FILE     the register map${COMMON_USAGE}${NATS_USAGE}`,
  flags: { ...COMMON_FLAGS, port: { type: "string" }, map: { type: "string" }, host: { type: "string" } },
  async run(args) {
    await runBridges(args, {
      ...common(args),
      modbus: {
        port: intFlag(args, "port", -1, [0, 65535]),
        map: args.values.map as string | undefined,
        host: args.values.host as string | undefined,
      },
    });
  },
};

/** `adp bridge webhook` */
export const bridgeWebhook: Command = {
  name: "bridge webhook",
  summary: "POST each anomaly event to an HTTP endpoint, retried until 2xx",
  usage: `
adp bridge webhook --url http://HOST:PORT/PATH [--jetstream] [--nats URL] [...]

One POST per anomaly event: JSON with eventId (<station>.<frameId>), station, frameId, score,
threshold, regions, heat-map reference; header Idempotency-Key = eventId. Retried with backoff
(250 ms doubling to 15 s) until a 2xx; never sent again after one.
  --jetstream        consume the ADP_ANOMALIES stream through a durable consumer, acknowledging an
                     event only after its 2xx: a restart or a dead endpoint loses nothing
  --durable NAME     the durable consumer's name (default adp-webhook)
  --rate N           POSTs per second per station (default 10), --burst N at once (default 20)
  --group-ms MS      put a station's events within MS into one POST ({…first, events: [...]})
  --header 'K: V'    an extra request header (repeat; e.g. Authorization)
  --attach-heatmap   put the heat-map PNG (base64) in the body as heatmapPng
  --heatmap-base-url URL   link heat maps as URL/<bucket>/<key> (heatmapUrl)${COMMON_USAGE}${NATS_USAGE}`,
  flags: {
    ...COMMON_FLAGS,
    url: { type: "string" },
    jetstream: { type: "boolean" },
    durable: { type: "string" },
    rate: { type: "string" },
    burst: { type: "string" },
    "group-ms": { type: "string" },
    header: { type: "string", multiple: true },
    "attach-heatmap": { type: "boolean" },
    "heatmap-base-url": { type: "string" },
  },
  async run(args) {
    const url = requireString(args, "url", this.name);
    if (!/^https?:\/\//.test(url)) {
      throw new UsageError(`--url must be an http:// or https:// URL: got ${url}`);
    }
    const headers: Record<string, string> = {};
    for (const h of (args.values.header as string[] | undefined) ?? []) {
      const at = h.indexOf(":");
      if (at < 1) throw new UsageError(`--header must read 'Name: value': got ${h}`);
      headers[h.slice(0, at).trim()] = h.slice(at + 1).trim();
    }
    await runBridges(args, {
      ...common(args),
      webhook: {
        url,
        headers,
        jetstream: Boolean(args.values.jetstream),
        durable: args.values.durable as string | undefined,
        stations: args.values.station as string[] | undefined,
        ratePerSecond: intFlag(args, "rate", 10, [1, 10_000]),
        burst: intFlag(args, "burst", 20, [1, 10_000]),
        groupMs: intFlag(args, "group-ms", 0, [0, 600_000]),
        attachHeatmap: Boolean(args.values["attach-heatmap"]),
        heatmapBaseUrl: args.values["heatmap-base-url"] as string | undefined,
      },
    });
  },
};

/** `adp bridge --config FILE` */
export const bridgeConfig: Command = {
  name: "bridge",
  summary: "run several bridges together from a config file (adp bridge --config FILE)",
  usage: `
adp bridge --config FILE [--nats URL]
adp bridge opcua|modbus|webhook --help     one bridge each

FILE (JSON) names the bridges and their settings; see docs/BRIDGES.md and
deploy/bridges.example.json. They share one NATS connection, one watchdog and heartbeat.${NATS_USAGE}`,
  flags: { ...NATS_FLAGS, config: { type: "string" } },
  async run(args) {
    const file = requireString(args, "config", this.name);
    const { parseBridgeConfig } = await import("../bridges/mod.ts");
    const cfg = parseBridgeConfig(await Deno.readTextFile(file), file);
    if (!args.values.nats && cfg.nats) args.values.nats = cfg.nats;
    await runBridges(args, cfg);
  },
};

function common(args: ParsedArgs): BridgeConfig {
  return {
    stations: args.values.station as string[] | undefined,
    staleAfterMs: intFlag(args, "stale-after", 0, [0, 86_400_000]),
    serviceCheck: !args.values["no-service-check"],
    http: args.values.http === undefined ? undefined : intFlag(args, "http", 0, [0, 65535]),
  };
}

async function runBridges(args: ParsedArgs, cfg: BridgeConfig): Promise<void> {
  for (const block of [cfg.opcua, cfg.modbus]) {
    if (block && block.port < 0) throw new UsageError("Missing --port (see --help)");
  }
  const { guardLateSocketErrors, startBridges } = await import("../bridges/mod.ts");
  const unguard = guardLateSocketErrors((line) => console.error(line));
  const nc = await connectFromFlags(args, { name: "adp bridge", persistent: true });
  const bridges = await startBridges(nc, cfg).catch(async (error) => {
    await nc.close();
    throw error;
  });
  const { promise: stopped, resolve } = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, resolve);
  try {
    await Promise.race([stopped, nc.closed()]);
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, resolve);
    await bridges.stop();
    await nc.drain().catch(() => nc.close());
    unguard();
  }
}
