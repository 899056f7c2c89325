/**
 * What every CLI command shares: flag parsing with `node:util` (JSR's @std/cli cannot be reached
 * here), `--help`, and usage errors that become exit code 2.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ErrorCode, ProcessorError } from "../errors.ts";

/** A command's flags as `parseArgs` declares them. */
export type FlagSpec = NonNullable<ParseArgsConfig["options"]>;

/** One CLI command. */
export interface Command {
  /** e.g. "models tiny" */
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Full help text shown by `--help`. */
  readonly usage: string;
  /** The flags it takes, as `node:util` parseArgs options. */
  readonly flags: FlagSpec;
  /** Whether positional arguments are accepted. */
  readonly positionals?: boolean;
  /** Runs the command; a thrown error's code becomes the exit code. */
  run(args: ParsedArgs): Promise<void>;
}

/** Parsed flags and positionals. */
export interface ParsedArgs {
  /** Flag values by name. */
  readonly values: Record<string, string | boolean | string[] | undefined>;
  /** Arguments that are not flags. */
  readonly positionals: string[];
}

/** A mistake in how a command was called. */
export class UsageError extends ProcessorError {
  /**
   * Refuses a command line.
   *
   * @param message what is wrong, and how the command is called
   * @param options `cause` chains
   */
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.USAGE, message, options);
    this.name = "UsageError";
  }
}

/** Parses `argv` for `command`; returns undefined when help was printed instead. */
export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...command.flags, help: { type: "boolean", short: "h" } },
      allowPositionals: command.positionals ?? false,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split("\n")[0]} (see adp ${command.name} --help)`);
  }
  if (parsed.values.help) {
    console.log(command.usage.trim());
    return undefined;
  }
  return parsed as ParsedArgs;
}

/** A required string flag. */
export function requireString(args: ParsedArgs, flag: string, command: string): string {
  const v = args.values[flag];
  if (typeof v !== "string" || v === "") {
    throw new UsageError(`Missing --${flag} (see adp ${command} --help)`);
  }
  return v;
}

/** An optional integer flag within bounds. */
export function intFlag(args: ParsedArgs, flag: string, fallback: number, range: [number, number]): number {
  const v = args.values[flag];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < range[0] || n > range[1]) {
    throw new UsageError(`--${flag} must be an integer in [${range[0]}, ${range[1]}]: got ${v}`);
  }
  return n;
}

/** An optional number flag within bounds (ends included). */
export function numberFlag(
  args: ParsedArgs,
  flag: string,
  fallback: number,
  range: [number, number],
): number {
  const v = args.values[flag];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v === "" || !Number.isFinite(n) || n < range[0] || n > range[1]) {
    throw new UsageError(`--${flag} must be a number in [${range[0]}, ${range[1]}]: got ${v}`);
  }
  return n;
}

/** An optional flag restricted to a set of values. */
export function choiceFlag<T extends string>(
  args: ParsedArgs,
  flag: string,
  choices: readonly T[],
  fallback: T,
): T {
  const v = args.values[flag] ?? fallback;
  if (!choices.includes(v as T)) {
    throw new UsageError(`--${flag} must be one of ${choices.join(", ")}: got ${v}`);
  }
  return v as T;
}
