/**
 * Log lines with a timestamp and a level: `text` (`2026-12-02T16:30:00.123Z INFO  message`) or
 * `json` (one object per line: `time`, `level`, `msg`, and `station` when the line is about one).
 *
 * A tiny logger rather than pino: the service's components log through a `(line: string) => void`
 * sink (the processor's `log` option), and pino's transports run in worker threads and its sync
 * destination writes to a file descriptor through sonic-boom, two things worth nothing here. The
 * level and station are read from the line itself: components start warnings with `warning:`
 * and errors with `error:`, and name the station as `station ID`, `of ID` or `ID/FRAME`.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/** Log levels, least severe first. */
export const LogLevel = { debug: "debug", info: "info", warn: "warn", error: "error" } as const;
/** A log level. */
export type LogLevel = typeof LogLevel[keyof typeof LogLevel];

/** Output formats. */
export const LOG_FORMATS = ["text", "json"] as const;
/** An output format. */
export type LogFormat = typeof LOG_FORMATS[number];

/** A logger: structured calls, and `line` for components that log free text. */
export interface Logger {
  /** Logs `msg` at `level` with extra fields. */
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** Logs a component's free-text line: level from its `error:`/`warning:` prefix, station from its text. */
  line(text: string): void;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Output format. @default "text" */
  format?: LogFormat;
  /** Where lines go. @default stderr */
  write?: (line: string) => void;
  /** A fixed field on every line (`{ instance }`). */
  fields?: Record<string, unknown>;
  /** The clock. @default Date.now */
  now?: () => number;
}

const STATION_PATTERNS = [
  /\bstation ([A-Za-z0-9_-]{1,64})\b/,
  /\b(?:of|for) ([A-Za-z0-9_-]{1,64})(?:\/|:| set| v\d| taken| deleted| failed| refused| not| was|$)/,
];

/**
 * The station a free-text line is about, if it names one.
 *
 * @param text the line
 * @returns the station id, or undefined
 */
export function stationOfLine(text: string): string | undefined {
  for (const re of STATION_PATTERNS) {
    const m = re.exec(text);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Checks a `--log-format` value.
 *
 * @param value the flag's value (undefined: text)
 * @returns the format
 * @throws {ConfigError} for an unknown format
 */
export function parseLogFormat(value: string | undefined): LogFormat {
  if (value === undefined) return "text";
  if (!(LOG_FORMATS as readonly string[]).includes(value)) {
    throw new ConfigError(`--log-format is text or json, not ${JSON.stringify(value)}`);
  }
  return value as LogFormat;
}

/**
 * Makes a logger.
 *
 * @param opts format, destination, fixed fields
 * @returns the logger
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? "text";
  const write = opts.write ?? ((line: string) => console.error(line));
  const now = opts.now ?? Date.now;
  const log = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
    const time = new Date(now()).toISOString();
    if (format === "json") {
      write(JSON.stringify({ time, level, msg, ...opts.fields, ...fields }));
      return;
    }
    const extra = Object.entries(fields).filter(([k]) => k !== "station")
      .map(([k, v]) => ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join("");
    write(`${time} ${level.toUpperCase().padEnd(5)} ${msg}${extra}`);
  };
  return {
    log,
    line(text: string) {
      const m = /^(error|warning):\s*/i.exec(text);
      const level: LogLevel = !m ? "info" : m[1].toLowerCase() === "error" ? "error" : "warn";
      const msg = m ? text.slice(m[0].length) : text;
      const station = stationOfLine(msg);
      log(level, msg, station === undefined ? {} : { station });
    },
  };
}
