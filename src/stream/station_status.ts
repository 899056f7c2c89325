/**
 * A station's line in `adp.svc.status`: its profile in force (or on disk, for a station evicted
 * from the table) and its counters.
 *
 * @module
 */
import type { StationStatus } from "./messages.ts";
import type { ParkedProfile, Station } from "./stations.ts";

/** A tracked station: the profile its scorer holds, its counters and queue. */
export function trackedStatus(s: Station, enrolling: string | null): StationStatus {
  const meta = s.slot.current?.profile.meta;
  return {
    station: s.id,
    profileVersion: meta?.version ?? null,
    threshold: meta?.threshold ?? null,
    profileError: s.profileError,
    received: s.stats.received,
    scored: s.stats.scored,
    anomalies: s.stats.anomalies,
    dropped: { ...s.stats.dropped },
    latencyMs: s.stats.latencySummary(),
    queued: s.queue.length,
    enrolling,
  };
}

/** A station evicted with its profile on disk: the profile, no counters. */
export function parkedStatus(
  station: string,
  parked: ParkedProfile,
  enrolling: string | null,
): StationStatus {
  return {
    station,
    profileVersion: parked.meta?.version ?? null,
    threshold: parked.meta?.threshold ?? null,
    profileLoaded: false,
    profileError: parked.error,
    received: 0,
    scored: 0,
    anomalies: 0,
    dropped: {},
    latencyMs: { p50: null, p99: null, count: 0 },
    queued: 0,
    enrolling,
  };
}
