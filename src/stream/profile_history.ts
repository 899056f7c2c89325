/**
 * Every saved version of a station's profile, kept for rollback and audit:
 * `<state-dir>/profiles/history/<station>/v<N>.safetensors` (the file exactly as it was saved) and
 * `rollback-<epoch ms>-v<N>.json` (who put version N back in force, when, over which version).
 * With JetStream the same files are objects `history/<station>/…` of the profile bucket: a `/` is
 * not allowed in a station id, so the bucket's watch and start-up reconcile, which read only
 * `<station>.safetensors`, never take a history object for a profile in force.
 *
 * The history is bounded: beyond `limit` versions the oldest are pruned (never the one in force),
 * with the rollback records that point at them.
 *
 * @module
 */
import { join } from "node:path";
import type { ObjectStore } from "@nats-io/obj";
import { openSafetensors } from "../clip/mod.ts";
import type { ProfileMeta, ProfileRevision } from "../adp/mod.ts";
import { RequestRefusedError, ServiceErrorCode } from "./errors.ts";
import { checkStationId } from "./subjects.ts";

/** A rollback as the history records it: version `version` put back in force over `fromVersion`. */
export interface RollbackRecord {
  /** The version put back in force. */
  version: number;
  /** When (ISO 8601). */
  at: string;
  /** The version in force before the rollback; null when the station had none (deleted). */
  fromVersion: number | null;
  /** Who asked, when the request said. */
  by?: string;
  /** Why, when the request said. */
  note?: string;
}

/** One version in a station's history (`adp.svc.profiles.history`). */
export interface ProfileHistoryEntry {
  /** The profile version. */
  version: number;
  /** When this version was saved (its revision's time; the enrollment's for older profiles). */
  createdAt: string;
  /** What produced it (`meta.revision`); null for profiles written before revisions were recorded. */
  revision: ProfileRevision | null;
  /** The calibration figures it scores with. */
  calibration: {
    threshold: number;
    targetFalseRejectRate: number | null;
    shots: number;
    method: string;
  };
  /** Whether this version is the one in force. */
  inForce: boolean;
  /** Each time this version was put back in force by a rollback, newest first. */
  rollbacks: Omit<RollbackRecord, "version">[];
}

/** Versions kept per station by default (`adp serve --profile-history`). */
export const DEFAULT_PROFILE_HISTORY = 20;

const VERSION_FILE = /^v([1-9][0-9]{0,9})\.safetensors$/;
const ROLLBACK_FILE = /^rollback-([0-9]{1,15})-v([1-9][0-9]{0,9})\.json$/;
const META_KEY = "adp.profile";

/** The local and shared history of every station. */
export class ProfileHistory {
  readonly #root: string;
  readonly #bucket: ObjectStore | undefined;
  readonly #limit: number;
  readonly #log: (line: string) => void;

  /**
   * @param profilesDir the store's `profiles/` folder (history goes to its `history/` folder)
   * @param opts the shared bucket, how many versions to keep, a log
   */
  constructor(
    profilesDir: string,
    opts: { bucket?: ObjectStore; limit?: number; log?: (line: string) => void } = {},
  ) {
    this.#root = join(profilesDir, "history");
    this.#bucket = opts.bucket;
    this.#limit = opts.limit ?? DEFAULT_PROFILE_HISTORY;
    this.#log = opts.log ?? (() => {});
  }

  /** Path of version `version` of a station in the local history. */
  path(station: string, version: number): string {
    return join(this.#dir(station), `v${version}.safetensors`);
  }

  /** Keeps the bytes of a saved version (here and in the bucket), then prunes beyond the limit. */
  async record(station: string, version: number, bytes: Uint8Array, inForce: number): Promise<void> {
    await this.#write(station, `v${version}.safetensors`, bytes);
    await this.#prune(station, inForce);
  }

  /** Keeps a rollback record (here and in the bucket). */
  async recordRollback(station: string, record: RollbackRecord): Promise<void> {
    const name = `rollback-${Date.parse(record.at)}-v${record.version}.json`;
    await this.#write(station, name, new TextEncoder().encode(JSON.stringify(record)));
  }

  /** Whether the history (here, or in the bucket once pulled) holds version `version`. */
  async has(station: string, version: number): Promise<boolean> {
    await this.pull(station);
    return (await this.#files(station)).versions.includes(version);
  }

  /** The highest version the history (with the bucket's) holds; 0 when none. */
  async maxVersion(station: string): Promise<number> {
    await this.pull(station);
    return Math.max(0, ...(await this.#files(station)).versions);
  }

  /**
   * The bytes of a kept version.
   *
   * @throws {RequestRefusedError} 404 when the history does not hold it
   */
  async read(station: string, version: number): Promise<Uint8Array> {
    if (!await this.has(station, version)) {
      const kept = (await this.#files(station)).versions.sort((a, b) => b - a);
      throw new RequestRefusedError(
        ServiceErrorCode.NOT_FOUND,
        `Station ${station} has no version ${version} in its history (kept: ${
          kept.length ? kept.map((v) => `v${v}`).join(", ") : "none"
        })`,
      );
    }
    return await Deno.readFile(this.path(station, version));
  }

  /** The station's history, newest version first, `inForce` marking the version in force. */
  async entries(station: string, inForce: number | null): Promise<ProfileHistoryEntry[]> {
    await this.pull(station);
    const { versions, rollbacks } = await this.#files(station);
    const entries: ProfileHistoryEntry[] = [];
    for (const version of versions.sort((a, b) => b - a)) {
      const meta = await readMeta(this.path(station, version)).catch((error) => {
        this.#log(`warning: history entry v${version} of ${station} unreadable: ${(error as Error).message}`);
        return undefined;
      });
      if (!meta) continue;
      entries.push({
        version,
        createdAt: meta.revision?.at ?? meta.createdAt,
        revision: meta.revision ?? null,
        calibration: {
          threshold: meta.threshold,
          targetFalseRejectRate: meta.calibration?.targetFalseRejectRate ?? null,
          shots: meta.enrollment?.shots,
          method: meta.calibration?.method,
        },
        inForce: version === inForce,
        rollbacks: rollbacks.filter((r) => r.version === version).map(({ version: _, ...r }) => r),
      });
    }
    return entries;
  }

  /** Takes the bucket's history objects of a station that this instance lacks (no-op without a bucket). */
  async pull(station: string): Promise<void> {
    if (!this.#bucket) return;
    const prefix = `history/${checkStationId(station)}/`;
    const local = new Set(await this.#names(station));
    for (const info of await this.#bucket.list()) {
      if (info.deleted || !info.name.startsWith(prefix)) continue;
      const name = info.name.slice(prefix.length);
      if (local.has(name) || !(VERSION_FILE.test(name) || ROLLBACK_FILE.test(name))) continue;
      const bytes = await this.#bucket.getBlob(info.name);
      if (bytes) await writeAtomically(join(this.#dir(station), name), bytes);
    }
  }

  /** Uploads local history objects the bucket lacks (start-up: an instance that saved while it was cut off). */
  async push(stations: Iterable<string>): Promise<void> {
    if (!this.#bucket) return;
    const shared = new Set((await this.#bucket.list()).filter((i) => !i.deleted).map((i) => i.name));
    for (const station of stations) {
      for (const name of await this.#names(station)) {
        const object = `history/${station}/${name}`;
        if (shared.has(object)) continue;
        await this.#bucket.putBlob({ name: object }, await Deno.readFile(join(this.#dir(station), name)))
          .catch((error) => this.#log(`warning: history ${object} not shared: ${(error as Error).message}`));
      }
    }
  }

  #dir(station: string): string {
    return join(this.#root, checkStationId(station));
  }

  async #write(station: string, name: string, bytes: Uint8Array): Promise<void> {
    await writeAtomically(join(this.#dir(station), name), bytes);
    if (!this.#bucket) return;
    await this.#bucket.putBlob({ name: `history/${station}/${name}` }, bytes).catch((error) =>
      // Kept here; the next start-up shares it (push).
      this.#log(
        `warning: history ${name} of ${station} kept locally but not shared: ${(error as Error).message}`,
      )
    );
  }

  /** Removes the oldest versions beyond the limit (never `inForce`) and the rollbacks to them. */
  async #prune(station: string, inForce: number): Promise<void> {
    const { versions, rollbacks } = await this.#files(station);
    const keep = new Set(versions.sort((a, b) => b - a).slice(0, this.#limit));
    keep.add(inForce);
    const names = [
      ...versions.filter((v) => !keep.has(v)).map((v) => `v${v}.safetensors`),
      ...rollbacks.filter((r) => !keep.has(r.version)).map((r) => r.file),
    ];
    for (const name of names) {
      await Deno.remove(join(this.#dir(station), name)).catch(() => {});
      await this.#bucket?.delete(`history/${station}/${name}`).catch(() => {});
    }
  }

  async #names(station: string): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(this.#dir(station))) if (e.isFile) names.push(e.name);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return names;
  }

  async #files(
    station: string,
  ): Promise<{ versions: number[]; rollbacks: (RollbackRecord & { file: string })[] }> {
    const versions: number[] = [];
    const rollbacks: (RollbackRecord & { file: string })[] = [];
    for (const name of await this.#names(station)) {
      const v = VERSION_FILE.exec(name);
      if (v) versions.push(Number(v[1]));
      else if (ROLLBACK_FILE.test(name)) {
        try {
          const record = JSON.parse(
            await Deno.readTextFile(join(this.#dir(station), name)),
          ) as RollbackRecord;
          rollbacks.push({ ...record, file: name });
        } catch (error) {
          this.#log(`warning: rollback record ${name} of ${station} unreadable: ${(error as Error).message}`);
        }
      }
    }
    rollbacks.sort((a, b) => b.at.localeCompare(a.at));
    return { versions, rollbacks };
  }
}

/** The JSON part of a profile file, read from its header alone (the tensors stay on disk). */
async function readMeta(path: string): Promise<ProfileMeta> {
  const reader = await openSafetensors(path);
  try {
    return JSON.parse(reader.metadata[META_KEY]) as ProfileMeta;
  } finally {
    reader.close();
  }
}

/** Writes `bytes` to `path` and syncs them to the disk. */
export async function writeDurably(path: string, bytes: Uint8Array): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  let at = 0;
  while (at < bytes.length) at += await file.write(bytes.subarray(at));
  await file.sync();
}

/**
 * Writes `bytes` to a temporary file, syncs it and renames it over `path`: never half a file there,
 * and no temporary file left behind when the write fails (a full disk).
 */
export async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  const tmp = `${path}.tmp`;
  try {
    await writeDurably(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}
