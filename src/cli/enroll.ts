/**
 * `adp enroll`: asks the service to enroll a station and follows the job with a live progress bar
 * (stage, percent, ETA). Exits 0 with the new profile version, non-zero with the reason when the
 * request is refused or the job fails.
 *
 * @module
 */
import { EnrollmentError } from "../errors.ts";
import { renderProgressBar } from "../progress_bar.ts";
import {
  checkStationId,
  Endpoint,
  ENROLL_LIMITS,
  type EnrollCancelReply,
  type EnrollProgressMessage,
  type EnrollRequest,
  JobStage,
  requestEnrollment,
} from "../stream/mod.ts";
import { choiceFlag, type Command, intFlag, type ParsedArgs, requireString } from "./_command.ts";
import { SYNTH_MODES } from "../adp/synth/mod.ts";
import { askService } from "./_service_command.ts";
import { connectFromFlags, NATS_FLAGS, NATS_USAGE } from "./_nats.ts";

/** `adp enroll` */
export const enrollCommand: Command = {
  name: "enroll",
  summary: "enroll a station from its next frames (or named ones), with a live progress bar",
  usage: `
adp enroll --station S [--shots 8] [--seed N] [--label NAME] [--steps N] [--synth procedural|sd|mix]
           [--frame-id ID …] [--timeout-s 900]
adp enroll --station S --cancel

Sends {shots, seed, label, steps, synth, frameIds} to adp.enroll.<station> and follows
adp.enroll.<station>.progress until the job ends. The service takes the station's next <shots>
frames (or the frames named by --frame-id, still held in its ring buffer), so a camera must be
publishing. Exits 0 printing the new profile version; non-zero with the reason otherwise (8 when
the job fails or is cancelled, 2 when the request is refused, 10 when no service answers).
With --cancel, stops the station's running or collecting job at once (adp.svc.enroll.cancel): its
requester gets the outcome "cancelled", the station is free to enroll again, the profile in force
stays; exit 2 when the station has no job.
  --shots      good parts to learn from, ${ENROLL_LIMITS.minShots}–${ENROLL_LIMITS.maxShots} (default 8)
  --seed       seed of everything random in enrollment (default 0)
  --label      the part's name, e.g. bottle
  --steps      optimisation steps per concept (default: the service's, 40)
  --synth      pseudo-anomalies from procedural painters (default), Stable Diffusion's SDEdit (sd; the
               service needs --sd-model, else it runs procedural and says so) or both alternated (mix);
               the profile records which ran
  --frame-id   a frame id to enroll from (repeat; as many as --shots)
  --timeout-s  give up following after this long, cancelling the job (default 900)
  --cancel     cancel the station's job instead${NATS_USAGE}`,
  flags: {
    ...NATS_FLAGS,
    station: { type: "string" },
    shots: { type: "string" },
    seed: { type: "string" },
    label: { type: "string" },
    steps: { type: "string" },
    synth: { type: "string" },
    "frame-id": { type: "string", multiple: true },
    "timeout-s": { type: "string" },
    cancel: { type: "boolean" },
  },
  async run(args) {
    const station = checkStationId(requireString(args, "station", this.name));
    if (args.values.cancel) return await cancelEnrollment(args, station);
    const frameIds = args.values["frame-id"] as string[] | undefined;
    const request: EnrollRequest = {
      shots: intFlag(args, "shots", frameIds?.length ?? 8, [ENROLL_LIMITS.minShots, ENROLL_LIMITS.maxShots]),
    };
    if (args.values.seed !== undefined) request.seed = intFlag(args, "seed", 0, [0, ENROLL_LIMITS.maxSeed]);
    if (args.values.label !== undefined) request.label = String(args.values.label);
    if (args.values.steps !== undefined) {
      request.steps = intFlag(args, "steps", 40, [1, ENROLL_LIMITS.maxSteps]);
    }
    if (args.values.synth !== undefined) request.synth = choiceFlag(args, "synth", SYNTH_MODES, "procedural");
    if (frameIds) request.frameIds = frameIds;
    const timeoutMs = intFlag(args, "timeout-s", 900, [1, 86_400]) * 1000;

    const nc = await connectFromFlags(args, { name: `adp enroll ${station}` });
    try {
      const job = requestEnrollment(nc, station, request, {
        timeoutMs,
        onAccepted: (reply) =>
          console.error(
            `job ${reply.jobId}: enrolling ${station} from ${
              reply.source === "frame-ids" ? "the named" : "its next"
            } ${reply.shots} frames${reply.jobsAhead ? ` after ${reply.jobsAhead} other job(s)` : ""}`,
          ),
      });
      const outcome = await followWithProgressBar(job);
      if (outcome.stage === JobStage.cancelled) {
        throw new EnrollmentError(`Enrollment of ${station} was cancelled: ${outcome.error}`);
      }
      if (outcome.error !== undefined) {
        throw new EnrollmentError(`Enrollment of ${station} failed: ${outcome.error}`);
      }
      console.log(`station ${station}: profile v${outcome.profileVersion} in force (job ${outcome.jobId})`);
    } finally {
      await nc.close();
    }
  },
};

/** `adp enroll --cancel`: the station's job stopped, the station freed. */
async function cancelEnrollment(args: ParsedArgs, station: string): Promise<void> {
  const reply = await askService<EnrollCancelReply>(args, "enroll", Endpoint.enrollCancel, { station });
  const kept = reply.profileVersion === null
    ? "no profile in force"
    : `profile v${reply.profileVersion} stays in force`;
  console.log(`station ${station}: enrollment job ${reply.jobId} cancelled, ${kept}`);
}

/** Draws each progress message as a bar (redrawn in place on a terminal, one line per stage otherwise); returns the outcome. */
async function followWithProgressBar(
  job: AsyncIterable<EnrollProgressMessage>,
): Promise<EnrollProgressMessage> {
  const terminal = Deno.stderr.isTerminal();
  let lastStage = "";
  let last: EnrollProgressMessage | undefined;
  for await (const p of job) {
    const eta = p.etaSeconds === null ? "" : `  ETA ${Math.ceil(p.etaSeconds)} s`;
    const line = renderProgressBar({
      label: `${p.stage}${p.message ? `: ${p.message}` : ""}`,
      fraction: p.percent / 100,
      width: Math.max(40, (terminal ? Deno.consoleSize().columns : 100) - eta.length),
    }) + eta;
    if (terminal) {
      Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
    } else if (p.stage !== lastStage || p.done) {
      console.error(line);
    }
    lastStage = p.stage;
    last = p;
  }
  if (terminal) console.error();
  // requestEnrollment ends only after a message with done, or throws.
  return last!;
}
