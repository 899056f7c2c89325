/**
 * `adp serve --config FILE`: a JSON or TOML file (by its extension, `.toml`) holding what the flags
 * set (same names, `"max-batch": 8`, `"jetstream": true`), per-station settings under `"stations"`
 * (threshold, heat-map retention by count and bytes), and environment overrides of the
 * file (`ADP_MAX_BATCH=16` overrides `"max-batch"`; read only with `--config`, so a stray variable
 * never changes a service started from flags alone). Precedence: flag, then environment, then file,
 * then the built-in default. Paths in the file (`model`, `state-dir`, `backbone`) are relative to
 * the file's folder. Credentials are never read from it: they come from the environment or files
 * (see `_nats.ts`).
 *
 * @module
 */
import { dirname, extname, isAbsolute, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { ConfigError } from "../errors.ts";
import type { FlagSpec, ParsedArgs } from "./_command.ts";

/** Settings of one station. */
export interface StationSettings {
  /** Threshold put in force at start-up (as `adp.svc.threshold.set` would). */
  threshold?: number;
  /** Heat maps kept at most for the station (over `--heatmap-count`). */
  heatmapCount?: number;
  /** PNG bytes of heat maps kept at most for the station (over `--heatmap-bytes`). */
  heatmapBytes?: number;
}

/** Flags the file may not set: credentials stay in the environment or files. */
const SECRET_FLAGS = new Set(["password", "token", "config"]);
/** Flags whose values are paths, resolved against the file's folder. */
const PATH_FLAGS = new Set([
  "model",
  "state-dir",
  "backbone",
  "creds",
  "nkey-seed",
  "tls-ca",
  "tls-cert",
  "tls-key",
]);

/** The environment variable that overrides a flag's value: `max-batch` → `ADP_MAX_BATCH`. */
export function envNameOf(flag: string): string {
  return `ADP_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/**
 * Fills `args.values` from the environment and `--config`, never over a flag given.
 *
 * @param args the parsed command line (changed in place)
 * @param flags the command's flag spec
 * @param env the environment
 * @returns per-station settings from the file
 * @throws {ConfigError} for an unreadable file, an unknown key or a value of the wrong type
 */
export async function applyServeConfig(
  args: ParsedArgs,
  flags: FlagSpec,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Promise<Record<string, StationSettings>> {
  const values = args.values as Record<string, string | boolean | undefined>;
  const file = values.config as string | undefined;
  const config = file === undefined ? {} : await readConfig(file);
  const stations = parseStations(config.stations, file);
  delete config.stations;
  for (const [flag, spec] of Object.entries(flags)) {
    if (values[flag] !== undefined || SECRET_FLAGS.has(flag)) continue;
    const fromEnv = file === undefined ? undefined : env(envNameOf(flag));
    if (fromEnv !== undefined && fromEnv !== "") {
      values[flag] = spec.type === "boolean" ? /^(1|true|yes|on)$/i.test(fromEnv) : fromEnv;
      continue;
    }
    if (!(flag in config)) continue;
    const v = config[flag];
    if (spec.type === "boolean") {
      if (typeof v !== "boolean") throw new ConfigError(`${file}: "${flag}" must be true or false`);
      values[flag] = v;
    } else {
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "bigint") {
        throw new ConfigError(`${file}: "${flag}" must be a string or a number`);
      }
      const s = String(v);
      values[flag] = PATH_FLAGS.has(flag) && !isAbsolute(s) ? resolve(dirname(file!), s) : s;
    }
  }
  for (const key of Object.keys(config)) {
    if (!(key in flags) || SECRET_FLAGS.has(key)) {
      throw new ConfigError(
        `${file}: unknown setting "${key}" (the settings are adp serve's flags without --, and "stations"; ` +
          `credentials come from the environment or files, never from this file)`,
      );
    }
  }
  return stations;
}

async function readConfig(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new ConfigError(`Cannot read --config ${file}: ${(error as Error).message}`, { cause: error });
  }
  const toml = extname(file).toLowerCase() === ".toml";
  let parsed: unknown;
  try {
    parsed = toml ? parseToml(text) : JSON.parse(text);
  } catch (error) {
    const format = toml ? "TOML" : "JSON";
    throw new ConfigError(`--config ${file} is not ${format}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`--config ${file} must hold an object of settings`);
  }
  const config = { ...(parsed as Record<string, unknown>) };
  delete config.$comment;
  return config;
}

function parseStations(raw: unknown, file: string | undefined): Record<string, StationSettings> {
  if (raw === undefined) return {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${file}: "stations" must map station ids to settings`);
  }
  const out: Record<string, StationSettings> = {};
  for (const [station, s] of Object.entries(raw as Record<string, unknown>)) {
    if (station === "$comment") continue;
    if (typeof s !== "object" || s === null) {
      throw new ConfigError(`${file}: stations.${station} must be an object`);
    }
    const { threshold, "heatmap-count": count, "heatmap-bytes": bytes, ...rest } = s as Record<
      string,
      unknown
    >;
    const unknown = Object.keys(rest).filter((k) => k !== "$comment");
    if (unknown.length) {
      throw new ConfigError(
        `${file}: stations.${station}: unknown setting "${unknown[0]}" ` +
          `(a station takes "threshold", "heatmap-count", "heatmap-bytes")`,
      );
    }
    if (threshold !== undefined && (typeof threshold !== "number" || !Number.isFinite(threshold))) {
      throw new ConfigError(`${file}: stations.${station}.threshold must be a number`);
    }
    const settings: StationSettings = {};
    if (threshold !== undefined) settings.threshold = threshold;
    if (count !== undefined) {
      settings.heatmapCount = positiveInt(count, `${file}: stations.${station}.heatmap-count`);
    }
    if (bytes !== undefined) {
      settings.heatmapBytes = positiveInt(bytes, `${file}: stations.${station}.heatmap-bytes`);
    }
    out[station] = settings;
  }
  return out;
}

/** A whole number ≥ 1 (TOML may give a bigint), or a ConfigError naming the setting. */
function positiveInt(v: unknown, what: string): number {
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
    throw new ConfigError(`${what} must be a whole number of at least 1: got ${JSON.stringify(String(v))}`);
  }
  return n;
}
