/**
 * `adp bridge opcua`: an OPC UA server (node-opcua) with a folder per station under Objects/ADP and a
 * Chain object for the watchdog. Node ids are stable strings in the server's own namespace (ns=1):
 * `ns=1;s=<station>.Anomalous`, `…Score`, `…FrameId`, … and `ns=1;s=Chain.Heartbeat`. Values are set
 * from the source as each result arrives, so monitored items see a data change at once (at the
 * client's publishing interval).
 *
 * @module
 */
// node-opcua is large: it is loaded when an OPC UA bridge starts, not with the bridge module.
import type { DataType, Namespace, UAObject, UAVariable } from "node-opcua";

/** The node-opcua module, loaded on first use. */
type NodeOpcua = typeof import("node-opcua");
import type { BridgeRuntime, ChainHealth } from "./runtime.ts";
import type { StationState } from "./station_state.ts";
import { addStationMethods } from "./_opcua_methods.ts";
import { pinOpensslConf } from "./openssl_env.ts";

/** A user allowed to open a session. */
export interface OpcuaUser {
  user: string;
  password: string;
}

/** Options of {@linkcode startOpcuaBridge}. */
export interface OpcuaBridgeOptions {
  port: number;
  /** Folder of the server's certificate store (own/, trusted/, rejected/). @default node-opcua's user folder */
  pkiDir?: string;
  /** Users that may log in; with any, anonymous sessions are refused unless `allowAnonymous`. */
  users?: OpcuaUser[];
  /** @default true when no users are given */
  allowAnonymous?: boolean;
  /** Offer security mode None (plain text) beside Sign and SignAndEncrypt. @default true */
  allowUnsecured?: boolean;
  /** Trust every client certificate (commissioning only). @default false */
  trustAllClients?: boolean;
  /**
   * The fastest publishing interval granted to a client's subscription, in ms, and the window over
   * which value changes of an item sampled "on change" (interval 0) are coalesced: a data change
   * reaches the client within about twice this. (node-opcua's own default is 50.) It is one setting
   * per process.
   * @default {DEFAULT_MIN_PUBLISHING_INTERVAL_MS}
   */
  minPublishingIntervalMs?: number;
  /** Further host names or addresses clients use to reach the server (advertised in its endpoints). */
  hostnames?: string[];
  /** @default console.error */
  log?: (line: string) => void;
}

/**
 * The bridge's default {@linkcode OpcuaBridgeOptions.minPublishingIntervalMs}: a data change then
 * reaches a client asking for the fastest cycle within about 5–7 ms of its result (bench/bridge_bench.ts),
 * under the 10 ms a PLC scan allows; a client asking for a slower cycle pays nothing for it.
 */
export const DEFAULT_MIN_PUBLISHING_INTERVAL_MS = 5;

/** A running OPC UA bridge. */
export interface OpcuaBridge extends AsyncDisposable {
  /** `opc.tcp://<host>:<port>` */
  readonly endpointUrl: string;
  stop(): Promise<void>;
}

const STATION_VARIABLES = {
  Anomalous: "Boolean",
  Valid: "Boolean",
  Healthy: "Boolean",
  Acknowledged: "Boolean",
  Score: "Double",
  Threshold: "Double",
  FrameId: "String",
  LastError: "String",
  ProfileVersion: "UInt64",
  FramesScored: "UInt64",
  FramesAnomalous: "UInt64",
  LastResultAt: "DateTime",
} as const;

type StationVariable = keyof typeof STATION_VARIABLES;

/**
 * Starts an OPC UA server showing the runtime's stations.
 *
 * @param runtime the shared bridge runtime
 * @param opts port, security, users
 * @returns the running server
 *
 * @example
 * ```ts ignore
 * await using bridge = await startOpcuaBridge(runtime, { port: 4840 });
 * console.log(bridge.endpointUrl); // a client reads ns=1;s=line-1.Anomalous
 * ```
 */
export async function startOpcuaBridge(
  runtime: BridgeRuntime,
  opts: OpcuaBridgeOptions,
): Promise<OpcuaBridge> {
  pinOpensslConf();
  const ua: NodeOpcua = await import("node-opcua");
  ua.Subscription.minimumPublishingInterval = Math.max(
    1,
    opts.minPublishingIntervalMs ?? DEFAULT_MIN_PUBLISHING_INTERVAL_MS,
  );
  const server = new ua.OPCUAServer(serverOptions(ua, opts));
  await server.initialize();
  const addressSpace = server.engine.addressSpace!;
  const ns = addressSpace.getOwnNamespace();
  const root = ns.addFolder(addressSpace.rootFolder.objects, { browseName: "ADP", nodeId: "s=ADP" });
  const chain = addChain(ua, ns, root);
  const stations = new Map<string, Map<StationVariable, UAVariable>>();
  let health: ChainHealth = runtime.health();
  const setStation = (s: StationState) => {
    let vars = stations.get(s.station);
    if (!vars) {
      vars = addStation(ua, ns, root, s.station);
      addStationMethods(
        ua,
        ns,
        addressSpace.findNode(`ns=${ns.index};s=${s.station}`) as UAObject,
        runtime,
        s.station,
      );
      stations.set(s.station, vars);
    }
    writeStation(ua, vars, s, health);
  };
  const removeSink = runtime.addSink({
    update: setStation,
    health(h, heartbeat) {
      health = h;
      set(ua, chain.Healthy, ua.DataType.Boolean, h.healthy);
      set(ua, chain.Reason, ua.DataType.String, h.reason);
      set(ua, chain.Heartbeat, ua.DataType.UInt32, heartbeat);
      for (const s of runtime.stations()) {
        const vars = stations.get(s.station);
        if (vars) {
          set(
            ua,
            vars.get("Healthy")!,
            ua.DataType.Boolean,
            h.healthy && !h.staleStations.includes(s.station),
          );
        }
      }
    },
  });
  await server.start().catch(async (error) => {
    removeSink();
    await server.shutdown(0).catch(() => {});
    throw error;
  });
  const endpointUrl = `opc.tcp://127.0.0.1:${opts.port}`;
  (opts.log ?? console.error)(
    `adp bridge opcua: listening on ${server.getEndpointUrl()} (${
      opts.allowUnsecured ?? true ? "security None offered" : "signed and encrypted only"
    }; ${opts.users?.length ? `${opts.users.length} user(s)` : "anonymous"})`,
  );
  let stopped: Promise<void> | undefined;
  const stop = () => {
    removeSink();
    return stopped ??= server.shutdown(0);
  };
  return { endpointUrl, stop, [Symbol.asyncDispose]: stop };
}

function serverOptions(ua: NodeOpcua, opts: OpcuaBridgeOptions) {
  const users = opts.users ?? [];
  const allowAnonymous = opts.allowAnonymous ?? users.length === 0;
  const unsecured = opts.allowUnsecured ?? true;
  return {
    port: opts.port,
    resourcePath: "",
    alternateHostname: ["127.0.0.1", "localhost", ...(opts.hostnames ?? [])],
    // Exception-based monitored items coalesce changes over this window: keep it at the publishing floor.
    serverCapabilities: {
      minSupportedSampleRate: opts.minPublishingIntervalMs ?? DEFAULT_MIN_PUBLISHING_INTERVAL_MS,
    },
    buildInfo: { productName: "ADP Edge bridge", manufacturerName: "ADP Edge" },
    serverCertificateManager: new ua.OPCUACertificateManager({
      automaticallyAcceptUnknownCertificate: opts.trustAllClients ?? false,
      ...(opts.pkiDir ? { rootFolder: opts.pkiDir } : {}),
    }),
    securityPolicies: [
      ...(unsecured ? [ua.SecurityPolicy.None] : []),
      ua.SecurityPolicy.Basic256Sha256,
      ua.SecurityPolicy.Aes128_Sha256_RsaOaep,
      ua.SecurityPolicy.Aes256_Sha256_RsaPss,
    ],
    securityModes: [
      ...(unsecured ? [ua.MessageSecurityMode.None] : []),
      ua.MessageSecurityMode.Sign,
      ua.MessageSecurityMode.SignAndEncrypt,
    ],
    allowAnonymous,
    userManager: {
      isValidUser: (user: string, password: string) =>
        users.some((u) => u.user === user && u.password === password),
    },
  };
}

function addChain(ua: NodeOpcua, ns: Namespace, root: UAObject) {
  const obj = ns.addObject({ organizedBy: root, browseName: "Chain", nodeId: "s=Chain" });
  const v = (name: string, dataType: DataType, value: unknown) =>
    ns.addVariable({
      componentOf: obj,
      browseName: name,
      nodeId: `s=Chain.${name}`,
      dataType,
      minimumSamplingInterval: 0,
      value: new ua.Variant({ dataType, value }),
    });
  return {
    Healthy: v("Healthy", ua.DataType.Boolean, false),
    Reason: v("Reason", ua.DataType.String, "starting"),
    Heartbeat: v("Heartbeat", ua.DataType.UInt32, 0),
  };
}

function addStation(
  ua: NodeOpcua,
  ns: Namespace,
  root: UAObject,
  station: string,
): Map<StationVariable, UAVariable> {
  const folder = ns.addObject({ organizedBy: root, browseName: station, nodeId: `s=${station}` });
  const vars = new Map<StationVariable, UAVariable>();
  for (
    const [name, type] of Object.entries(STATION_VARIABLES) as [StationVariable, keyof typeof DataType][]
  ) {
    const dataType = ua.DataType[type];
    vars.set(
      name,
      ns.addVariable({
        componentOf: folder,
        browseName: name,
        nodeId: `s=${station}.${name}`,
        dataType,
        minimumSamplingInterval: 0,
      }),
    );
  }
  return vars;
}

function writeStation(
  ua: NodeOpcua,
  vars: Map<StationVariable, UAVariable>,
  s: StationState,
  h: ChainHealth,
): void {
  const at = s.lastResultAt ?? new Date(0);
  const set2 = (name: StationVariable, value: unknown) =>
    set(ua, vars.get(name)!, ua.DataType[STATION_VARIABLES[name]], value, at);
  set2("FrameId", s.frameId);
  set2("Score", s.score);
  set2("Threshold", s.threshold);
  set2("Valid", s.valid);
  set2("LastError", s.lastError);
  set2("Acknowledged", s.acknowledged);
  set2("ProfileVersion", uint64(s.profileVersion));
  set2("FramesScored", uint64(s.framesScored));
  set2("FramesAnomalous", uint64(s.framesAnomalous));
  set2("LastResultAt", s.lastResultAt);
  set2("Healthy", h.healthy && !h.staleStations.includes(s.station));
  // Last, so that a client reacting to the verdict reads the frame id and score of the same frame.
  set2("Anomalous", s.anomalous);
}

/** node-opcua's UInt64: [high 32 bits, low 32 bits]. */
function uint64(n: number): [number, number] {
  return [Math.floor(n / 2 ** 32), n >>> 0];
}

function set(ua: NodeOpcua, v: UAVariable, dataType: DataType, value: unknown, at: Date = new Date()): void {
  v.setValueFromSource(
    new ua.Variant({ dataType, arrayType: ua.VariantArrayType.Scalar, value }),
    ua.StatusCodes.Good,
    at,
  );
}
