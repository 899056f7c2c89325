/**
 * The JSON API the pages call, behind the login: one handler per route, each checking the role it
 * needs. Every change the console makes goes to the service over NATS; nothing is kept here that
 * the service does not also say.
 *
 * @module
 */
import { type BusConnection, framesSubject, Header, isStationId } from "../stream/mod.ts";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { EnrollJobs } from "./enroll_jobs.ts";
import { ConsoleRequestError } from "./errors.ts";
import { profileHistory, rollback, sendFeedback, setThreshold } from "./service_client.ts";
import type { Session } from "./sessions.ts";
import type { StationBoard } from "./station_board.ts";
import type { StationState } from "./station_state.ts";
import { Role } from "./users.ts";
import { eventStream } from "./sse.ts";

/** What the routes work with. */
export interface ApiContext {
  /** The connection to the service. */
  nc: BusConnection;
  /** The stations. */
  board: StationBoard;
  /** The enrollments. */
  jobs: EnrollJobs;
  /** Closers of the event streams open now. */
  streams: Set<() => void>;
}

/** Results a station page gets at first (the live feed adds to them). */
const RESULTS_SENT = 600;
/** Largest uploaded image. */
const MAX_UPLOAD_BYTES = 16 * 1024 * 1024;
const FRAME_ID_PART_REGEXP = /^[\x21-\x7e]{1,128}$/;

/** A JSON response. */
export function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function stationOf(ctx: ApiContext, id: string): StationState {
  const s = isStationId(id) ? ctx.board.station(id) : undefined;
  if (!s) throw new ConsoleRequestError(`No station ${JSON.stringify(id)} is known`, 404);
  return s;
}

function needOperator(session: Session): void {
  if (session.role !== Role.operator) {
    throw new ConsoleRequestError("Viewers may watch but not change anything: log in as an operator", 403);
  }
}

async function body(req: Request): Promise<Record<string, unknown>> {
  try {
    const v = await req.json();
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // Falls through to the refusal.
  }
  throw new ConsoleRequestError("The request body must be a JSON object", 400);
}

/** A station's page data: tile, recent results, anomalies, frames, heat scale and enrollment. */
function stationDetail(ctx: ApiContext, s: StationState): Response {
  const tile = ctx.board.tiles().find((t) => t.id === s.id);
  return json({
    tile,
    results: s.results.slice(-RESULTS_SENT),
    anomalies: s.anomalies,
    recentFrames: s.recentFrameIds(),
    scale: ctx.board.scale(s.id),
    enroll: ctx.jobs.job(s.id) ?? null,
  });
}

async function postThreshold(ctx: ApiContext, s: StationState, req: Request): Promise<Response> {
  const { threshold } = await body(req);
  if (typeof threshold !== "number" || !Number.isFinite(threshold)) {
    throw new ConsoleRequestError("threshold must be a finite number", 400);
  }
  const reply = await setThreshold(ctx.nc, s.id, threshold);
  await ctx.board.poll();
  return json(reply);
}

async function postEnroll(ctx: ApiContext, s: StationState, req: Request): Promise<Response> {
  const b = await body(req);
  const frameIds = b.frameIds;
  if (!Array.isArray(frameIds) || !frameIds.length || !frameIds.every((id) => typeof id === "string")) {
    throw new ConsoleRequestError("frameIds must list the frames to enroll from", 400);
  }
  const request = {
    shots: frameIds.length,
    frameIds: frameIds as string[],
    ...(typeof b.label === "string" && b.label ? { label: b.label } : {}),
    ...(typeof b.steps === "number" ? { steps: b.steps } : {}),
  };
  await ctx.jobs.start(s.id, request, s.statusVersion);
  return json({ ok: true, station: s.id, shots: request.shots });
}

/** Publishes an uploaded image as a frame of the station, so the service holds it for enrollment. */
async function postUpload(ctx: ApiContext, station: string, req: Request): Promise<Response> {
  const bytes = new Uint8Array(await req.arrayBuffer());
  const png = bytes[0] === 0x89 && bytes[1] === 0x50, jpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
  if (!png && !jpeg) throw new ConsoleRequestError("Upload a PNG or JPEG image", 400);
  if (bytes.length > MAX_UPLOAD_BYTES) throw new ConsoleRequestError("The image is over 16 MiB", 413);
  const frameId = `upload-${crypto.randomUUID()}`;
  const h = natsHeaders();
  h.set(Header.frameId, frameId);
  h.set(Header.capturedAt, String(Date.now()));
  ctx.nc.publish(framesSubject(station), bytes, { headers: h });
  await ctx.nc.flush();
  return json({ frameId });
}

async function postFeedback(
  ctx: ApiContext,
  s: StationState,
  req: Request,
  session: Session,
): Promise<Response> {
  const b = await body(req);
  if (typeof b.frameId !== "string" || !FRAME_ID_PART_REGEXP.test(b.frameId)) {
    throw new ConsoleRequestError("frameId must name a frame", 400);
  }
  if (b.label !== "good" && b.label !== "defect") {
    throw new ConsoleRequestError("label must be good or defect", 400);
  }
  const note = typeof b.note === "string" && b.note ? b.note.slice(0, 500) : undefined;
  const reply = await sendFeedback(ctx.nc, s.id, {
    frameId: b.frameId,
    label: b.label,
    by: session.user,
    ...(note ? { note } : {}),
  });
  // The tiles show the new version at once, not at the next status round.
  await ctx.board.poll();
  return json(reply);
}

async function postRollback(
  ctx: ApiContext,
  s: StationState,
  req: Request,
  session: Session,
): Promise<Response> {
  const { version } = await body(req);
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    throw new ConsoleRequestError("version must be a profile version (an integer from 1)", 400);
  }
  const reply = await rollback(ctx.nc, { station: s.id, version, by: session.user });
  await ctx.board.poll();
  return json(reply);
}

function frameImage(s: StationState, frameId: string): Response {
  const f = s.heldFrame(frameId);
  if (!f) throw new ConsoleRequestError(`Frame ${frameId} is no longer held`, 404);
  return new Response(f.bytes.slice(), {
    headers: { "content-type": f.contentType, "cache-control": "max-age=3600" },
  });
}

/**
 * Answers an `/api/` request of a logged-in session (login itself is the server's).
 *
 * @param ctx connection, board, jobs
 * @param req the request
 * @param session who asks
 * @returns the response
 * @throws {ConsoleRequestError} with the status to answer
 */
export async function handleApi(ctx: ApiContext, req: Request, session: Session): Promise<Response> {
  const url = new URL(req.url);
  const parts = url.pathname.split("/").slice(2).map(decodeURIComponent);
  const get = req.method === "GET", post = req.method === "POST";
  if (get && parts[0] === "me") return json(session);
  if (get && parts[0] === "events") {
    return eventStream(ctx.board, ctx.jobs, url.searchParams.get("station"), ctx.streams);
  }
  if (get && parts[0] === "stations" && parts.length === 1) {
    return json({ serviceUp: ctx.board.serviceUp, tiles: ctx.board.tiles() });
  }
  if (parts[0] !== "stations" || parts.length < 2) throw new ConsoleRequestError("No such API", 404);
  if (post && parts[2] === "upload") {
    needOperator(session);
    if (!isStationId(parts[1])) throw new ConsoleRequestError("Invalid station id", 400);
    return await postUpload(ctx, parts[1], req);
  }
  const s = stationOf(ctx, parts[1]);
  if (get && parts.length === 2) return stationDetail(ctx, s);
  if (get && parts[2] === "frames" && parts.length === 4) return frameImage(s, parts[3]);
  if (get && parts[2] === "history" && parts.length === 3) return json(await profileHistory(ctx.nc, s.id));
  if (!post) throw new ConsoleRequestError("No such API", 404);
  needOperator(session);
  if (parts[2] === "threshold") return await postThreshold(ctx, s, req);
  if (parts[2] === "enroll") return await postEnroll(ctx, s, req);
  if (parts[2] === "feedback") return await postFeedback(ctx, s, req, session);
  if (parts[2] === "rollback") return await postRollback(ctx, s, req, session);
  throw new ConsoleRequestError("No such API", 404);
}
