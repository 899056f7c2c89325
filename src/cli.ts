/**
 * The `adp` command line: `deno task adp <command> [flags]`, or installed with
 * `deno install -g -A -n adp --config deno.json src/cli.ts`. Each command has `--help`; an error is one line on stderr
 * and a non-zero exit code chosen by its {@linkcode ErrorCode}.
 *
 * @module
 */
import { ErrorCode, ProcessorError } from "./errors.ts";
import { retainFreedMemory } from "./allocator.ts";
import { type Command, parseCommandArgs } from "./cli/_command.ts";
import { modelsInspect, modelsList, modelsPull, modelsTiny } from "./cli/models.ts";
import { encode } from "./cli/encode.ts";
import { synth } from "./cli/synth.ts";
import { serve } from "./cli/serve.ts";
import { camera } from "./cli/camera.ts";
import { enrollCommand } from "./cli/enroll.ts";
import { events } from "./cli/events.ts";
import { status } from "./cli/status.ts";
import { evalCommand } from "./cli/eval.ts";
import { feedback } from "./cli/feedback.ts";
import { score } from "./cli/score.ts";
import { thresholdGet, thresholdSet } from "./cli/threshold.ts";
import { profilesDelete, profilesGet, profilesList } from "./cli/profiles.ts";
import { roiClear, roiGet, roiSet } from "./cli/roi.ts";
import {
  profilesExport,
  profilesHistory,
  profilesImport,
  profilesRollback,
} from "./cli/profile_lifecycle.ts";
import { bridgeConfig, bridgeModbus, bridgeOpcua, bridgeWebhook } from "./cli/bridge.ts";
import { versionLine } from "./cli/_version.ts";
import { consoleCommand } from "./cli/console.ts";
import { heatmapGet } from "./cli/heatmap.ts";

const COMMANDS: readonly Command[] = [
  modelsTiny,
  modelsInspect,
  modelsList,
  modelsPull,
  encode,
  synth,
  serve,
  camera,
  enrollCommand,
  events,
  status,
  evalCommand,
  score,
  thresholdGet,
  thresholdSet,
  feedback,
  profilesList,
  profilesGet,
  profilesDelete,
  roiSet,
  roiClear,
  roiGet,
  profilesHistory,
  profilesRollback,
  profilesExport,
  profilesImport,
  heatmapGet,
  // The sub-commands first: "bridge" alone matches every "bridge …" command line.
  bridgeOpcua,
  bridgeModbus,
  bridgeWebhook,
  bridgeConfig,
  consoleCommand,
];

/**
 * Exit codes by failure kind, so scripts can tell a usage mistake from a broken model (README,
 * "Command line"). Any other failure, OS errors included, exits 1.
 */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = {
  USAGE: 2,
  CONFIG_INVALID: 3,
  WEIGHTS_INVALID: 4,
  WEIGHTS_MISSING: 4,
  WEIGHTS_CHECKSUM: 4,
  TOKENIZER_INVALID: 4,
  IMAGE_INVALID: 5,
  DEVICE_UNAVAILABLE: 6,
  DOWNLOAD_FAILED: 7,
  ENROLLMENT_FAILED: 8,
  PROFILE_INVALID: 9,
  BUS_UNAVAILABLE: 10,
};

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "adp: few-shot visual anomaly detection (ADP) on the edge",
    "",
    "usage: adp <command> [flags]     (adp <command> --help for its flags)",
    "",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join("\n");
}

/** Runs the CLI on `argv`; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--version" || argv[0] === "-V" || argv[0] === "version") {
    console.log(await versionLine());
    return 0;
  }
  if (!argv.length || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    console.log(overview());
    return argv.length ? 0 : 2;
  }
  const command = COMMANDS.find((c) => {
    const words = c.name.split(" ");
    return words.every((w, i) => argv[i] === w);
  });
  if (!command) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
    if (group.length && (argv.length === 1 || argv[1] === "--help" || argv[1] === "-h")) {
      console.log(group.map((c) => `adp ${c.name.padEnd(16)} ${c.summary}`).join("\n"));
      return argv.length === 1 ? 2 : 0;
    }
    console.error(`adp: unknown command "${argv.slice(0, 2).join(" ")}" (adp --help lists them)`);
    return 2;
  }
  try {
    const args = parseCommandArgs(command, argv.slice(command.name.split(" ").length));
    if (args) await command.run(args);
    return 0;
  } catch (error) {
    const { line, code } = failure(error);
    console.error(`adp ${command.name}: ${line}`);
    // The stack only on request: an operator's terminal and a supervisor's log get one line.
    if (code === 1 && Deno.env.get("ADP_DEBUG")) console.error((error as Error).stack ?? error);
    return code;
  }
}

/** What a failure prints (one line) and the exit code its kind is documented with (README, "Command line"). */
function failure(error: unknown): { line: string; code: number } {
  if (error instanceof ProcessorError) {
    return { line: oneLine(error.message), code: EXIT_CODES[error.code] ?? 1 };
  }
  // Files missing or unreadable, a folder where a file was expected: the OS said so.
  if (isOsError(error)) {
    return { line: oneLine((error as Error).message), code: 1 };
  }
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { line: `unexpected failure: ${oneLine(text)} (ADP_DEBUG=1 prints the stack)`, code: 1 };
}

/** A message on one line: whatever spans several is joined with "; ". */
function oneLine(text: string): string {
  return text.split(/\s*\n\s*/).filter(Boolean).join("; ");
}

/** An error the OS reported (Deno's `Deno.errors.*` or node:fs's), by its errno name: ENOENT, EACCES, … */
function isOsError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === "string" && /^E[A-Z0-9]+$/.test(code);
}

if (import.meta.main) {
  retainFreedMemory();
  Deno.exit(await main(Deno.args));
}
