/**
 * Every change of the profile in force at a station: loaded at start, installed by an enrollment,
 * made from the one in force (threshold, region of interest, feedback), rolled back, deleted, or
 * taken from another instance through the shared bucket. Changes of one station run one at a time,
 * each reading the profile in force, writing and swapping with no other change in between; a new
 * scorer scores a frame before its profile is written, so a profile that cannot score is never put
 * in force.
 *
 * @module
 */
import { createScorer, type Scorer, type StationProfile } from "../adp/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import { RequestRefusedError, ServiceErrorCode } from "./errors.ts";
import type { ThresholdSetReply, ThresholdSetRequest } from "./messages.ts";
import { type ProfileChange, type ProfileStore, reason, type StoredProfile } from "./profile_store.ts";
import { profileWithRoi, type RoiSetReply, roiSetReply, type RoiSetRequest } from "./roi_set.ts";
import type { StationTable } from "./stations.ts";

/** What the profile changes work on. */
export interface StationProfilesDeps {
  clip: ClipModel;
  stations: StationTable;
  store: ProfileStore;
  log: (line: string) => void;
}

/** The stations' profiles in force and every change to them. */
export class StationProfiles {
  readonly #clip: ClipModel;
  readonly #stations: StationTable;
  readonly #store: ProfileStore;
  readonly #log: (line: string) => void;
  /** The last profile change of each station: the next one waits for it. */
  readonly #writes = new Map<string, Promise<void>>();

  /** Changes over `deps.store`, swapping scorers in `deps.stations`. */
  constructor(deps: StationProfilesDeps) {
    this.#clip = deps.clip;
    this.#stations = deps.stations;
    this.#store = deps.store;
    this.#log = deps.log;
  }

  /** A profile loaded at start-up put in force (or the station marked refusing, with why). */
  installLoaded(stored: StoredProfile): void {
    const station = this.#stations.getOrAdd(stored.station);
    try {
      station.slot.swap(createScorer(this.#clip, stored.profile));
      station.profileError = null;
    } catch (error) {
      station.profileError = reason(error);
      this.#log(`station ${stored.station} refuses to score: ${station.profileError}`);
    }
  }

  /**
   * Loads again the profile of a station evicted from memory (`StationTable.parked`) and puts it in
   * force, or marks the station refusing as at start; alone among the station's changes, so a
   * threshold or delete sent meanwhile applies to it.
   */
  reload(id: string): Promise<void> {
    return this.exclusive(id, () => this.#reloadParked(id));
  }

  /** {@linkcode reload}'s work, for a change already running alone; nothing when `id` is not parked. */
  async #reloadParked(id: string): Promise<void> {
    if (!this.#stations.unpark(id)) return;
    const loaded = await this.#store.load(id);
    if ("error" in loaded) {
      this.#stations.getOrAdd(id).profileError = loaded.error;
      this.#log(`station ${id} refuses to score: ${loaded.error}`);
    } else {
      this.installLoaded(loaded);
    }
  }

  /** Whether a change of station `id`'s profile is running or waiting. */
  changing(id: string): boolean {
    return this.#writes.has(id);
  }

  /**
   * Runs `fn` alone among the profile changes of station `id` (enrollment's install, threshold,
   * region, feedback, rollback, delete).
   */
  exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#writes.get(id) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.then(() => {}, () => {});
    this.#writes.set(id, tail);
    tail.then(() => {
      if (this.#writes.get(id) === tail) this.#writes.delete(id);
    });
    return run;
  }

  /**
   * Enrollment's last step: the new scorer must score a frame, then the profile is saved, then
   * swapped in. An enrollment numbers its profile when it begins; a change written meanwhile (a
   * threshold, feedback) is superseded by it, so the profile takes the next number here instead of
   * being refused as older.
   */
  async install(id: string, profile: StationProfile): Promise<number> {
    return await this.exclusive(id, async () => {
      profile.meta.version = Math.max(profile.meta.version, this.nextVersion(id));
      await this.swapIn(id, profile, () => this.#store.save(id, profile));
      return profile.meta.version;
    });
  }

  /**
   * The next profile made from the one in force by `next` (feedback), numbered, checked, saved and
   * swapped in, alone among the station's changes; returns its version.
   */
  evolve(id: string, next: (scorer: Scorer) => Promise<StationProfile>): Promise<number> {
    return this.exclusive(id, async () => {
      await this.#reloadParked(id);
      return await this.#installChange(id, await next(this.requireScorer(id)));
    });
  }

  /** Puts `profile` in force once its scorer has scored a frame and `persist` has written it. */
  async swapIn(id: string, profile: StationProfile, persist: () => Promise<unknown>): Promise<void> {
    const scorer = createScorer(this.#clip, profile);
    try {
      const size = this.#clip.config.vision.imageSize;
      await scorer.scoreRgb([{ width: size, height: size, data: new Uint8Array(size * size * 3).fill(128) }]);
      await persist();
    } catch (error) {
      await scorer.dispose().catch(() => {});
      throw error;
    }
    const station = this.#stations.getOrAdd(id);
    station.slot.swap(scorer);
    station.profileError = null;
    this.#stations.unpark(id);
  }

  /** Versions are never reused: a deleted or rolled-back-over profile's number stays taken. */
  nextVersion(id: string): number {
    const current = this.#stations.get(id)?.slot.current?.profile.meta.version ?? 0;
    return Math.max(current, this.#store.latestVersion(id)) + 1;
  }

  /** The version in force at `id`, loaded or on disk after an eviction (0 when none). */
  currentVersion(id: string): number {
    return this.#stations.get(id)?.slot.current?.profile.meta.version ??
      this.#stations.parked.get(id)?.meta?.version ??
      0;
  }

  /**
   * The scorer in force at `id`.
   *
   * @throws {RequestRefusedError} 404 when the station has no usable profile
   */
  requireScorer(id: string): Scorer {
    const scorer = this.#stations.get(id)?.slot.current;
    if (!scorer) {
      const why = this.#stations.get(id)?.profileError;
      throw new RequestRefusedError(
        ServiceErrorCode.NOT_FOUND,
        why ? `Station ${id} has no usable profile: ${why}` : `Station ${id} has no profile`,
      );
    }
    return scorer;
  }

  /** `threshold.set`: a new version with the threshold, saved, then applied from the next frame. */
  setThreshold(req: ThresholdSetRequest): Promise<ThresholdSetReply> {
    return this.exclusive(req.station, async () => {
      await this.#reloadParked(req.station);
      const scorer = this.requireScorer(req.station);
      const meta = scorer.profile.meta;
      const { threshold: previous, version: fromVersion, revision } = meta;
      // A new version: the history keeps the one with the old threshold for a rollback.
      Object.assign(meta, { threshold: req.threshold, version: this.nextVersion(req.station) });
      meta.revision = { kind: "threshold", at: new Date().toISOString(), fromVersion };
      try {
        await this.#store.save(req.station, scorer.profile);
      } catch (error) {
        Object.assign(meta, { threshold: previous, version: fromVersion, revision });
        throw error;
      }
      scorer.setThreshold(req.threshold);
      this.#log(`threshold of ${req.station} set to ${req.threshold} (was ${previous})`);
      return { station: req.station, threshold: req.threshold, previous, profileVersion: meta.version };
    });
  }

  /** `roi.set`: the region in a new profile version, checked, saved and swapped in like an enrollment's. */
  setRoi(req: RoiSetRequest): Promise<RoiSetReply> {
    return this.exclusive(req.station, async () => {
      await this.#reloadParked(req.station);
      const current = this.requireScorer(req.station).profile, next = profileWithRoi(current, req);
      await this.#installChange(req.station, next);
      this.#log(`region of interest of ${req.station} set: profile v${next.meta.version}`);
      return roiSetReply(req.station, current, next);
    });
  }

  /** `profiles.delete`: the station's profile removed here and in the shared bucket. */
  delete(id: string): Promise<{ station: string; deleted: true; version: number | null }> {
    return this.exclusive(id, async () => {
      const station = this.#stations.get(id);
      const parked = this.#stations.parked.get(id);
      const version = station?.slot.current?.profile.meta.version ?? parked?.meta?.version ?? null;
      const existed = await this.#store.remove(id);
      this.#stations.unpark(id);
      if (!existed && !station?.slot.current) {
        throw new RequestRefusedError(ServiceErrorCode.NOT_FOUND, `Station ${id} has no profile`);
      }
      if (station) {
        station.slot.swap(undefined);
        station.profileError = null;
      }
      this.#log(`profile of ${id} deleted`);
      return { station: id, deleted: true, version };
    });
  }

  /** Another instance's change, seen through the shared bucket. */
  applyShared(change: ProfileChange): void {
    const station = this.#stations.getOrAdd(change.station);
    if (change.kind === "delete") {
      this.#stations.unpark(change.station);
      station.slot.swap(undefined);
      this.#log(`profile of ${change.station} deleted by another instance`);
      return;
    }
    const error = change.kind === "refused" ? change.error : this.#tryShared(change.stored);
    if (error !== undefined) {
      this.#log(`warning: shared profile of ${change.station} refused, the current one stays: ${error}`);
    }
  }

  /** Puts a shared profile in force; the reason when it cannot score. */
  #tryShared(stored: StoredProfile): string | undefined {
    try {
      const station = this.#stations.getOrAdd(stored.station);
      station.slot.swap(createScorer(this.#clip, stored.profile));
      station.profileError = null;
      this.#stations.unpark(stored.station);
      this.#log(`profile of ${stored.station} v${stored.profile.meta.version} taken from the shared bucket`);
      return undefined;
    } catch (error) {
      return reason(error);
    }
  }

  /**
   * A change made from the profile in force (feedback, region of interest): numbered after every
   * version ever made (a rollback may have put a lower one in force), checked, saved and swapped in.
   */
  async #installChange(id: string, profile: StationProfile): Promise<number> {
    profile.meta.version = this.nextVersion(id);
    await this.swapIn(id, profile, () => this.#store.save(id, profile));
    return profile.meta.version;
  }
}
