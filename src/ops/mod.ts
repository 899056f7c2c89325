/**
 * Operations: the Prometheus metrics of the service, the `/metrics`, `/healthz` and `/readyz`
 * endpoint any long-running process (service, bridges, console) can serve, and timestamped,
 * levelled log lines (text or one JSON object per line).
 *
 * @example Serve a registry and a readiness check
 * ```ts ignore
 * import { ServiceMetrics, startOpsServer } from "./mod.ts";
 *
 * const metrics = new ServiceMetrics();
 * let connected = false;
 * await using server = await startOpsServer({
 *   listen: "127.0.0.1:9464",
 *   metrics,
 *   ready: { connected: () => connected },
 * });
 * ```
 *
 * @module
 */
export { parseListen, startOpsServer } from "./http.ts";
export type { OpsServer, OpsServerOptions, ReadinessChecks } from "./http.ts";
export { createLogger, LOG_FORMATS, LogLevel, parseLogFormat, stationOfLine } from "./log.ts";
export type { LogFormat, Logger, LoggerOptions } from "./log.ts";
export { ServiceMetrics } from "./metrics.ts";
export type { EnrollProgressLike, MetricsSource, StationCounters } from "./metrics.ts";
