/**
 * The operator console: a web application served by its own process (`adp console`), which talks
 * to the `adp` service only over NATS. Stations (live tiles), a station (frame with its heat map on
 * the station's fixed scale, score timeline, threshold histogram), Teach (enrollment from picked
 * frames) and Review (anomalies and passes, good/defect feedback, profile
 * history with rollback), behind a login of operators and viewers.
 *
 * @example Serve the console for a bus
 * ```ts ignore
 * import { connectNats } from "../stream/mod.ts";
 * import { hashPassword, parseUsers, startConsole } from "./mod.ts";
 *
 * const nc = await connectNats({ servers: "nats://127.0.0.1:4222" });
 * const users = parseUsers(`ada:operator:${hashPassword("secret")}`, "example");
 * await using server = await startConsole({ nc, users, port: 8080 });
 * console.log(`open ${server.url}`);
 * ```
 *
 * @module
 */
export { startConsole } from "./server.ts";
export type { ConsoleOptions, ConsoleServer } from "./server.ts";
export { hashPassword, loadUsers, parseUsers, Role, verifyPassword } from "./users.ts";
export type { ConsoleUser } from "./users.ts";
export { ConsoleRequestError } from "./errors.ts";
export { heatScaleOf } from "./heat_scale.ts";
export type { HeatScale, HeatScaleSource } from "./heat_scale.ts";
/** The connection type of {@linkcode ConsoleOptions} (nats.js's, as the stream area names it). */
export type { BusConnection } from "../stream/mod.ts";
