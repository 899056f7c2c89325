/**
 * Where station profiles live: `<state-dir>/profiles/<station>.safetensors`, and with JetStream also
 * a NATS object store bucket shared by every instance of the queue group. Each file is loaded and
 * validated on its own, so one corrupt profile is refused with its reason while the others load.
 * The shared bucket is the group's truth: at start-up a newer (or equal) shared version replaces the
 * local file, a newer local one is uploaded; afterwards a watch brings other instances' changes in.
 * Every saved version is also kept in the station's history (profile_history.ts), for rollback.
 *
 * Versions: a save must carry a version no lower than the highest ever written for the station (in
 * force or in history), so a late writer holding an old profile cannot put it back; only
 * {@linkcode ProfileStore.rollback} puts an older version back in force, and the next save after it
 * still gets a new number (highest + 1): no number in the history is ever reused.
 *
 * @module
 */
import { join } from "node:path";
import type { ObjectInfo, ObjectStore } from "@nats-io/obj";
import { loadProfile, saveProfile, type StationProfile } from "../adp/mod.ts";
import { ErrorCode, ProcessorError } from "../errors.ts";
import { checkStationId, isStationId } from "./subjects.ts";
import {
  ProfileHistory,
  type ProfileHistoryEntry,
  type RollbackRecord,
  writeDurably,
} from "./profile_history.ts";
import { readTombstones, writeTombstone } from "./profile_tombstones.ts";

/** A profile as loaded, with the digest of its file. */
export interface StoredProfile {
  /** The station the file is named after. */
  station: string;
  /** The validated profile. */
  profile: StationProfile;
  /** `SHA-256=<base64>` of the file, as the object store writes digests. */
  digest: string;
}

/** A change made by another instance, seen through the shared bucket. */
export type ProfileChange =
  | { kind: "put"; station: string; stored: StoredProfile }
  | { kind: "refused"; station: string; error: string }
  | { kind: "delete"; station: string };

const SUFFIX = ".safetensors";

/** Local and shared profile storage. */
export class ProfileStore {
  /** Where this instance's profile files are (`<stateDir>/profiles`). */
  readonly dir: string;
  readonly #bucket: ObjectStore | undefined;
  readonly #log: (line: string) => void;
  /** Digest of the file this instance last wrote or loaded per station: its own uploads are not news. */
  readonly #known = new Map<string, string>();
  /** Highest profile version written, loaded or in history per station (the compare-and-swap's reference). */
  readonly #versions = new Map<string, number>();
  /** The version in force per station (lower than `#versions` after a rollback). */
  readonly #inForce = new Map<string, number>();
  readonly #history: ProfileHistory;
  /** The last write of each station: the next one waits for it. */
  readonly #writes = new Map<string, Promise<void>>();
  #watchStop: (() => void) | undefined;
  #watchChain: Promise<void> = Promise.resolve();

  /**
   * A store over the state dir; nothing is read before {@linkcode ProfileStore.loadAll}.
   *
   * @param stateDir the service's state dir (profiles go to its `profiles/` folder)
   * @param opts the shared bucket, when JetStream is on, versions kept per station, and a log
   */
  constructor(
    stateDir: string,
    opts: { bucket?: ObjectStore; historyLimit?: number; log?: (line: string) => void } = {},
  ) {
    this.dir = join(stateDir, "profiles");
    this.#bucket = opts.bucket;
    this.#log = opts.log ?? (() => {});
    this.#history = new ProfileHistory(this.dir, {
      bucket: opts.bucket,
      limit: opts.historyLimit,
      log: this.#log,
    });
  }

  /** Path of a station's profile file. */
  path(station: string): string {
    return join(this.dir, `${checkStationId(station)}${SUFFIX}`);
  }

  /** Whether profiles are shared through an object store bucket. */
  get shared(): boolean {
    return this.#bucket !== undefined;
  }

  /**
   * Loads every profile (after reconciling with the shared bucket). A file that cannot be used is
   * reported in `refused` with its reason; it does not stop the others.
   */
  async loadAll(): Promise<{ loaded: StoredProfile[]; refused: { station: string; error: string }[] }> {
    await Deno.mkdir(this.dir, { recursive: true });
    await this.#removeOrphans();
    if (this.#bucket) await this.#reconcile(this.#bucket);
    const loaded: StoredProfile[] = [];
    const refused: { station: string; error: string }[] = [];
    for await (const entry of Deno.readDir(this.dir)) {
      if (!entry.name.endsWith(SUFFIX)) continue;
      const station = entry.name.slice(0, -SUFFIX.length);
      if (!isStationId(station)) continue;
      if (entry.isSymlink) {
        this.#log(
          `warning: profile ${entry.name} is a symbolic link: skipped (profiles must be plain files)`,
        );
        continue;
      }
      if (!entry.isFile) continue;
      try {
        loaded.push(await this.#loadLocal(station));
      } catch (error) {
        // Said to every subscriber of the station's results: no absolute state-dir path in it.
        refused.push({ station, error: this.#withoutDir(reason(error)) });
      }
    }
    loaded.sort((a, b) => a.station.localeCompare(b.station));
    // History is for rollback: a state dir that cannot hold it (read-only, full) must not stop scoring.
    try {
      for (const { station, profile } of loaded) await this.#seedHistory(station, profile.meta.version);
      await this.#history.push(loaded.map((l) => l.station));
    } catch (error) {
      this.#log(`warning: profile history not brought up to date: ${this.#withoutDir(reason(error))}`);
    }
    return { loaded, refused };
  }

  /**
   * Loads one station's profile file again, as {@linkcode loadAll} does (a station evicted from
   * memory); or why it cannot be used, without the state dir's path.
   */
  async load(station: string): Promise<StoredProfile | { station: string; error: string }> {
    try {
      return await this.#loadLocal(station);
    } catch (error) {
      return { station, error: this.#withoutDir(reason(error)) };
    }
  }

  /**
   * Persists a profile (atomically) and shares it; returns the stored record. Writes of one station
   * run one at a time, and a version older than the last one written for it is refused
   * ({@linkcode ProfileConflictError}): a late writer holding an old profile cannot put it back.
   */
  save(station: string, profile: StationProfile): Promise<StoredProfile> {
    const previous = this.#writes.get(station) ?? Promise.resolve();
    const write = previous.catch(() => {}).then(() => this.#save(station, profile));
    const tail = write.then(() => {}, () => {});
    this.#writes.set(station, tail);
    tail.then(() => {
      if (this.#writes.get(station) === tail) this.#writes.delete(station);
    });
    return write;
  }

  /** The highest version written or loaded for a station by this store; 0 when none. */
  latestVersion(station: string): number {
    return this.#versions.get(station) ?? 0;
  }

  async #save(station: string, profile: StationProfile): Promise<StoredProfile> {
    const latest = this.latestVersion(station), version = profile.meta.version;
    const inForce = this.#inForce.get(station);
    if (version < latest || (version === latest && inForce !== undefined && inForce !== latest)) {
      throw new ProfileConflictError(
        `Profile of ${station} v${version} not saved: v${latest} was written since${
          inForce !== undefined && inForce !== latest ? ` and v${inForce} was rolled back to` : ""
        }`,
      );
    }
    const path = this.path(station);
    await Deno.mkdir(this.dir, { recursive: true });
    await saveProfile(path, profile);
    this.#versions.set(station, version);
    this.#inForce.set(station, version);
    const bytes = await Deno.readFile(path);
    const stored = await this.#share(station, profile, bytes);
    // The profile is written and in force: a history that cannot take it costs the rollback to it, not the save.
    await this.#history.record(station, version, bytes, version).catch((error) =>
      this.#log(
        `warning: v${version} of ${station} not kept in its history: ${this.#withoutDir(reason(error))}`,
      )
    );
    return stored;
  }

  /** Notes the file now in force and uploads it to the bucket. */
  async #share(station: string, profile: StationProfile, bytes: Uint8Array): Promise<StoredProfile> {
    const digest = await digestOf(bytes);
    this.#known.set(station, digest);
    if (this.#bucket) {
      try {
        await this.#bucket.putBlob({ name: `${station}${SUFFIX}` }, bytes);
      } catch (error) {
        // The local file is in force; the next start-up uploads it when it is the newer one.
        this.#log(`warning: profile of ${station} saved locally but not shared: ${reason(error)}`);
      }
    }
    return { station, profile, digest };
  }

  /**
   * A version kept in the station's history, loaded and validated (a rollback's or an export's
   * source).
   *
   * @throws {RequestRefusedError} 404 when the history does not hold it
   */
  async historyProfile(
    station: string,
    version: number,
  ): Promise<{ profile: StationProfile; bytes: Uint8Array }> {
    const bytes = await this.#history.read(station, version);
    const tmp = `${this.path(station)}.remote`;
    await writeDurably(tmp, bytes);
    try {
      return { profile: await loadProfile(tmp), bytes };
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }

  /** The raw bytes of a kept version (an export). */
  historyBytes(station: string, version: number): Promise<Uint8Array> {
    return this.#history.read(station, version);
  }

  /** The station's history, newest version first. */
  history(station: string): Promise<ProfileHistoryEntry[]> {
    return this.#history.entries(station, this.#inForce.get(station) ?? null);
  }

  /**
   * Puts a kept version back in force (here and in the bucket) and records the rollback. The
   * highest version stays the compare-and-swap's reference: a stale write is still refused, and
   * the next save gets highest + 1.
   */
  rollback(
    station: string,
    kept: { profile: StationProfile; bytes: Uint8Array },
    who: Pick<RollbackRecord, "by" | "note">,
  ): Promise<RollbackRecord> {
    const previous = this.#writes.get(station) ?? Promise.resolve();
    const write = previous.catch(() => {}).then(async () => {
      const version = kept.profile.meta.version;
      const record: RollbackRecord = {
        version,
        at: new Date().toISOString(),
        fromVersion: this.#inForce.get(station) ?? null,
        ...who,
      };
      await writeDurably(`${this.path(station)}.tmp`, kept.bytes);
      await Deno.rename(`${this.path(station)}.tmp`, this.path(station));
      this.#inForce.set(station, version);
      await this.#share(station, kept.profile, kept.bytes);
      await this.#history.recordRollback(station, record);
      return record;
    });
    this.#writes.set(station, write.then(() => {}, () => {}));
    return write;
  }

  /** Removes a station's profile here and in the shared bucket; false when there was none. */
  async remove(station: string): Promise<boolean> {
    const path = this.path(station);
    let existed = true;
    await Deno.remove(path).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      existed = false;
    });
    this.#known.delete(station);
    this.#inForce.delete(station);
    if (this.#bucket) {
      // Before the delete: an instance down now must not bring the profile back at its next start.
      await writeTombstone(this.#bucket, station, this.latestVersion(station));
      const info = await this.#bucket.info(`${station}${SUFFIX}`).catch(() => null);
      if (info && !info.deleted) {
        await this.#bucket.delete(`${station}${SUFFIX}`);
        existed = true;
      }
    }
    return existed;
  }

  /** Follows other instances' changes in the shared bucket (no-op without one). */
  async watch(onChange: (change: ProfileChange) => void): Promise<void> {
    const bucket = this.#bucket;
    if (!bucket) return;
    const iter = await bucket.watch({ includeHistory: false, ignoreDeletes: false });
    this.#watchStop = () => iter.stop();
    (async () => {
      for await (const info of iter) {
        if (!info) continue;
        this.#watchChain = this.#watchChain.then(() => this.#apply(bucket, info, onChange)).catch((error) =>
          this.#log(`warning: shared profile ${info.name} not applied: ${reason(error)}`)
        );
      }
    })().catch((error) => this.#log(`warning: profile watch ended: ${reason(error)}`));
  }

  /** Stops the watch and waits for a change being applied. */
  async close(): Promise<void> {
    this.#watchStop?.();
    await this.#watchChain;
  }

  async #apply(bucket: ObjectStore, info: ObjectInfo, onChange: (c: ProfileChange) => void): Promise<void> {
    const station = stationOf(info.name);
    if (!station) return;
    if (info.deleted) {
      if (!this.#known.has(station)) return;
      this.#known.delete(station);
      this.#inForce.delete(station);
      await Deno.remove(this.path(station)).catch(() => {});
      onChange({ kind: "delete", station });
      return;
    }
    if (this.#known.get(station) === info.digest) return;
    try {
      const stored = await this.#download(bucket, station);
      if (stored) onChange({ kind: "put", station, stored });
    } catch (error) {
      onChange({ kind: "refused", station, error: reason(error) });
    }
  }

  /**
   * Brings the local folder in line with the bucket: the higher version wins, the shared one on a
   * tie, and the shared one too when the group's history holds the local version (the group moved
   * on from it, by a rollback for one).
   */
  async #reconcile(bucket: ObjectStore): Promise<void> {
    const remote = new Map<string, ObjectInfo>();
    const names = new Set<string>();
    for (const info of await bucket.list()) {
      if (!info.deleted) names.add(info.name);
      const station = stationOf(info.name);
      if (station && !info.deleted) remote.set(station, info);
    }
    await this.#reconcileLocalOnly(bucket, remote);
    for (const [station, info] of remote) {
      let local: StoredProfile | undefined;
      try {
        local = await this.#loadLocal(station);
      } catch {
        // missing or unusable locally: the shared one decides
      }
      if (local?.digest === info.digest) continue;
      try {
        const tmp = `${this.path(station)}.remote`;
        const bytes = await bucket.getBlob(info.name);
        if (!bytes) continue;
        await writeDurably(tmp, bytes);
        const shared = await loadProfile(tmp).catch(async (error) => {
          await Deno.remove(tmp).catch(() => {});
          throw error;
        });
        const localVersion = local?.profile.meta.version ?? 0;
        if (
          localVersion > shared.meta.version &&
          !names.has(`history/${station}/v${localVersion}${SUFFIX}`)
        ) {
          await Deno.remove(tmp);
          await bucket.putBlob({ name: info.name }, await Deno.readFile(this.path(station)));
          this.#log(`shared profile of ${station} replaced by the newer local v${localVersion}`);
        } else {
          await Deno.rename(tmp, this.path(station));
          this.#log(`profile of ${station} taken from the shared bucket (v${shared.meta.version})`);
        }
      } catch (error) {
        this.#log(`warning: shared profile of ${station} not used: ${reason(error)}`);
      }
    }
  }

  /**
   * Local profiles the bucket lacks: deleted in the group (at or below its tombstone's version:
   * removed here) or made while this instance was alone (shared now). Versions continue above a
   * tombstone's.
   */
  async #reconcileLocalOnly(bucket: ObjectStore, remote: Map<string, ObjectInfo>): Promise<void> {
    const tombstones = await readTombstones(bucket);
    for (const [station, version] of tombstones) {
      this.#versions.set(station, Math.max(this.latestVersion(station), version));
    }
    for await (const entry of Deno.readDir(this.dir)) {
      const station = stationOf(entry.name);
      if (!entry.isFile || !station || remote.has(station)) continue;
      try {
        const local = await this.#loadLocal(station);
        const deleted = tombstones.get(station);
        if (deleted !== undefined && local.profile.meta.version <= deleted) {
          await Deno.remove(this.path(station));
          this.#known.delete(station);
          this.#log(`profile of ${station} v${local.profile.meta.version} was deleted in the group: removed`);
        } else {
          await bucket.putBlob({ name: entry.name }, await Deno.readFile(this.path(station)));
          this.#log(`profile of ${station} v${local.profile.meta.version} shared (the bucket had none)`);
        }
      } catch (error) {
        this.#log(`warning: local profile of ${station} not reconciled: ${reason(error)}`);
      }
    }
  }

  async #download(bucket: ObjectStore, station: string): Promise<StoredProfile | undefined> {
    const bytes = await bucket.getBlob(`${station}${SUFFIX}`);
    if (!bytes) return undefined;
    const tmp = `${this.path(station)}.remote`;
    await writeDurably(tmp, bytes);
    try {
      const profile = await loadProfile(tmp);
      await Deno.rename(tmp, this.path(station));
      this.#versions.set(station, Math.max(this.latestVersion(station), profile.meta.version));
      this.#inForce.set(station, profile.meta.version);
      const digest = await digestOf(bytes);
      this.#known.set(station, digest);
      return { station, profile, digest };
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }

  /** Temporary files a killed write left behind (`.*.safetensors.tmp`, `*.remote`). */
  async #removeOrphans(): Promise<void> {
    for await (const entry of Deno.readDir(this.dir)) {
      if (!entry.isFile || !(entry.name.endsWith(".tmp") || entry.name.endsWith(".remote"))) continue;
      await Deno.remove(join(this.dir, entry.name)).then(
        () => this.#log(`removed ${entry.name}, left in profiles/ by an interrupted write`),
        (error) => this.#log(`warning: ${entry.name} not removed: ${reason(error)}`),
      );
    }
  }

  /** A message with this store's folder (an absolute state-dir path) cut to `profiles/`. */
  #withoutDir(message: string): string {
    return message.replaceAll(`${this.dir}/`, "profiles/").replaceAll(this.dir, "profiles");
  }

  async #loadLocal(station: string): Promise<StoredProfile> {
    const path = this.path(station);
    const bytes = await Deno.readFile(path);
    const profile = await loadProfile(path);
    const digest = await digestOf(bytes);
    this.#known.set(station, digest);
    const kept = await this.#history.maxVersion(station);
    this.#versions.set(station, Math.max(this.latestVersion(station), profile.meta.version, kept));
    this.#inForce.set(station, profile.meta.version);
    return { station, profile, digest };
  }

  /** A profile saved before histories were kept enters its station's history at start-up. */
  async #seedHistory(station: string, version: number): Promise<void> {
    if (await this.#history.has(station, version)) return;
    await this.#history.record(station, version, await Deno.readFile(this.path(station)), version);
  }
}

function stationOf(objectName: string): string | undefined {
  if (!objectName.endsWith(SUFFIX)) return undefined;
  const station = objectName.slice(0, -SUFFIX.length);
  return isStationId(station) ? station : undefined;
}

async function digestOf(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return `SHA-256=${btoa(String.fromCharCode(...hash)).replaceAll("+", "-").replaceAll("/", "_")}`;
}

/** A profile write refused because a newer version of the station was written since it was read. */
export class ProfileConflictError extends ProcessorError {
  /**
   * Refuses a stale write.
   *
   * @param message which station and versions
   */
  constructor(message: string) {
    super(ErrorCode.USAGE, message);
    this.name = "ProfileConflictError";
  }
}

/** One sentence for a failure. */
export function reason(error: unknown): string {
  if (error instanceof ProcessorError || error instanceof Error) return error.message;
  return String(error);
}
