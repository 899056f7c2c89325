/**
 * What the console knows of one station, from the bus alone: its recent results and anomaly
 * events, the recent frames the camera sent (for teaching and for showing what the camera saw),
 * rates and counts, and the tile the stations page shows. Everything is bounded.
 *
 * @module
 */
import type { AnomalyMessage, MapSummary, ResultMessage } from "../stream/mod.ts";

/** Results kept per station (timeline, histogram). */
export const RESULTS_KEPT = 1000;
/** Anomaly events kept per station, each with its frame when the console saw it. */
export const ANOMALIES_KEPT = 40;
/** Recent frames kept per station (what Teach picks from). */
export const FRAMES_KEPT = 24;
const HOUR_MS = 3_600_000;
const RATE_WINDOW_MS = 5000;

/** One result, as the pages use it. */
export interface ResultPoint {
  /** The frame's id. */
  frameId: string;
  /** When the console received the result (epoch ms). */
  at: number;
  /** Fused score; null when the frame was not scored. */
  score: number | null;
  /** The threshold in force. */
  threshold: number | null;
  /** The verdict; null when not scored. */
  anomalous: boolean | null;
  /** The profile version that scored it. */
  profileVersion: number | null;
  /** Why it was not scored. */
  error?: string;
}

/** An anomaly event, as the pages use it. */
export interface AnomalyPoint extends ResultPoint {
  /** Frame size: regions are in frame pixels. */
  frameWidth: number;
  /** Frame height. */
  frameHeight: number;
  /** The map's summary (with its coarse grid when the service sends one). */
  map: MapSummary;
  /** Whether the console holds the frame's pixels. */
  hasFrame: boolean;
}

/** A frame the camera sent, as the console keeps it. */
export interface HeldFrame {
  /** The image bytes. */
  bytes: Uint8Array;
  /** `image/png` or `image/jpeg`. */
  contentType: string;
  /** When it arrived (epoch ms). */
  at: number;
}

/** Health of a station as a tile shows it. */
export type Health = "ok" | "frames-stopped" | "service-down" | "no-profile" | "waiting";

/** The stations page's view of one station. */
export interface StationTile {
  /** The station. */
  id: string;
  /** The last scored frame's verdict. */
  verdict: "anomalous" | "ok" | "error" | "none";
  /** The last score. */
  score: number | null;
  /** The threshold in force. */
  threshold: number | null;
  /** Results per second over the last 5 s. */
  fps: number;
  /** Anomaly events in the last hour. */
  anomaliesLastHour: number;
  /** The profile version in force. */
  profileVersion: number | null;
  /** The last anomaly's frame id, when its frame is held (thumbnail). */
  lastAnomalyFrameId: string | null;
  /** Health. */
  health: Health;
  /** A sentence on the health. */
  healthText: string;
  /** When the last result came (epoch ms), null before any. */
  lastResultAt: number | null;
  /** The last result's frame id (what a page can match to the frame it follows). */
  lastFrameId: string | null;
  /** The running enrollment's stage, if any. */
  enrolling: string | null;
}

/** One station's state. */
export class StationState {
  /** The station. */
  readonly id: string;
  /** Results, oldest first. */
  readonly results: ResultPoint[] = [];
  /** Anomaly events, oldest first. */
  readonly anomalies: AnomalyPoint[] = [];
  /** Profile version and threshold from the service's status. */
  statusVersion: number | null = null;
  /** The threshold from the service's status. */
  statusThreshold: number | null = null;
  /** The enrollment the service reports, if any. */
  enrolling: string | null = null;
  readonly #frames = new Map<string, HeldFrame>();
  readonly #recent: string[] = [];
  readonly #anomalyTimes: number[] = [];
  #lastFrameAt: number | null = null;

  /** A station with no history. */
  constructor(id: string) {
    this.id = id;
  }

  /** Records a frame the camera sent. */
  frame(frameId: string, bytes: Uint8Array, at: number): void {
    this.#lastFrameAt = at;
    const contentType = bytes[0] === 0xff && bytes[1] === 0xd8 ? "image/jpeg" : "image/png";
    this.#frames.set(frameId, { bytes, contentType, at });
    this.#recent.push(frameId);
    while (this.#recent.length > FRAMES_KEPT) this.#forget(this.#recent.shift()!);
  }

  /** Records a result. */
  result(r: ResultMessage, at: number): ResultPoint {
    const point: ResultPoint = {
      frameId: r.frameId,
      at,
      score: r.score,
      threshold: r.threshold,
      anomalous: r.anomalous,
      profileVersion: r.profileVersion,
      ...(r.error ? { error: r.error } : {}),
    };
    this.results.push(point);
    if (this.results.length > RESULTS_KEPT) this.results.splice(0, this.results.length - RESULTS_KEPT);
    return point;
  }

  /** Records an anomaly event. */
  anomaly(a: AnomalyMessage, at: number): AnomalyPoint {
    const point: AnomalyPoint = {
      frameId: a.frameId,
      at,
      score: a.score,
      threshold: a.threshold,
      anomalous: true,
      profileVersion: a.profileVersion,
      frameWidth: a.frameWidth,
      frameHeight: a.frameHeight,
      map: a.map,
      hasFrame: this.#frames.has(a.frameId),
    };
    this.anomalies.push(point);
    this.#anomalyTimes.push(at);
    while (this.anomalies.length > ANOMALIES_KEPT) this.#forget(this.anomalies.shift()!.frameId);
    return point;
  }

  /** A held frame. */
  heldFrame(frameId: string): HeldFrame | undefined {
    return this.#frames.get(frameId);
  }

  /** Ids of the recent frames held, newest first. */
  recentFrameIds(): string[] {
    return [...this.#recent].reverse().filter((id) => this.#frames.has(id));
  }

  /** The tile, at time `now`. */
  tile(now: number, opts: { serviceUp: boolean; staleMs: number }): StationTile {
    while (this.#anomalyTimes.length && this.#anomalyTimes[0] < now - HOUR_MS) this.#anomalyTimes.shift();
    const last = this.results.at(-1);
    let recent = 0;
    for (let i = this.results.length - 1; i >= 0 && this.results[i].at >= now - RATE_WINDOW_MS; i--) recent++;
    const verdict = !last ? "none" : last.error ? "error" : last.anomalous ? "anomalous" : "ok";
    const lastAnomaly = this.anomalies.findLast((a) => this.#frames.has(a.frameId));
    const version = last?.profileVersion ?? this.statusVersion;
    const [health, healthText] = this.#health(now, opts, version);
    return {
      id: this.id,
      verdict,
      score: last?.score ?? null,
      threshold: this.statusThreshold ?? last?.threshold ?? null,
      fps: Math.round((recent / (RATE_WINDOW_MS / 1000)) * 10) / 10,
      anomaliesLastHour: this.#anomalyTimes.length,
      profileVersion: this.statusVersion ?? version,
      lastAnomalyFrameId: lastAnomaly?.frameId ?? null,
      health,
      healthText,
      lastResultAt: last?.at ?? null,
      lastFrameId: last?.frameId ?? null,
      enrolling: this.enrolling,
    };
  }

  #health(
    now: number,
    opts: { serviceUp: boolean; staleMs: number },
    version: number | null,
  ): [Health, string] {
    if (!opts.serviceUp) return ["service-down", "No adp service answers its status request"];
    const lastAt = Math.max(this.#lastFrameAt ?? -Infinity, this.results.at(-1)?.at ?? -Infinity);
    if (lastAt === -Infinity) return ["waiting", "No frame seen since the console started"];
    if (now - lastAt > opts.staleMs) {
      return ["frames-stopped", `No frame for ${Math.round((now - lastAt) / 1000)} s`];
    }
    if (version === null) return ["no-profile", "Not enrolled: teach it from a few good parts"];
    return ["ok", "Frames arriving and scored"];
  }

  #forget(frameId: string): void {
    if (this.#recent.includes(frameId) || this.anomalies.some((a) => a.frameId === frameId)) return;
    this.#frames.delete(frameId);
  }
}
