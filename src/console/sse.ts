/**
 * The pages' live feed, as server-sent events: `tiles` (every station's tile, coalesced to at most
 * two a second and sent every two seconds regardless, so that stopped frames show), and for the
 * station a page follows, each `result` and `anomaly` as it comes and its `enroll` progress.
 *
 * @module
 */
import type { StationBoard } from "./station_board.ts";
import type { EnrollJobs } from "./enroll_jobs.ts";

const TILE_EVERY_MS = 500;
const TILE_AT_LEAST_MS = 2000;

/**
 * An SSE response following the board (and one station, when given) until the client leaves.
 *
 * @param board the stations
 * @param jobs the enrollments
 * @param station the station whose results, anomalies and enrollment are sent
 * @param open the streams open now: the stream adds its closer (the server closes them all on stop)
 * @returns the streaming response
 */
export function eventStream(
  board: StationBoard,
  jobs: EnrollJobs,
  station: string | null,
  open: Set<() => void>,
): Response {
  const encoder = new TextEncoder();
  let stopAll = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (event: string, data: unknown) => {
        try {
          controller.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
        } catch {
          stopAll();
        }
      };
      let dirty = true, lastTiles = 0;
      const tick = setInterval(() => {
        const now = Date.now();
        if (dirty || now - lastTiles >= TILE_AT_LEAST_MS) {
          dirty = false;
          lastTiles = now;
          send("tiles", board.tiles(now));
        }
      }, TILE_EVERY_MS);
      const unBoard = board.listen((e) => {
        dirty = true;
        if (station !== null && e.station === station && e.type !== "station") send(e.type, e.data);
      });
      const unJobs = jobs.listen((job) => {
        dirty = true;
        if (job.station === station) send("enroll", job);
      });
      const close = () => {
        stopAll();
        try {
          controller.close();
        } catch {
          // Already closed by the client leaving.
        }
      };
      stopAll = () => {
        clearInterval(tick);
        unBoard();
        unJobs();
        open.delete(close);
      };
      open.add(close);
      send("tiles", board.tiles());
      lastTiles = Date.now();
      dirty = false;
    },
    cancel() {
      stopAll();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}
