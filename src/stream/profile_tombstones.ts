/**
 * Tombstones of deleted profiles in the shared bucket. The object store's own delete marker says
 * nothing of the version deleted, so an instance that was down during the delete would upload its
 * local copy again at its next start (the profile comes back), and the next enrollment would
 * reuse the deleted version's number. A tombstone is an empty object `<station>.deleted` whose
 * metadata holds the highest version the station had: a local profile at or below it is the deleted
 * one (removed at start), a higher one is newer work (shared), and versions continue above it.
 *
 * @module
 */
import type { ObjectStore } from "@nats-io/obj";
import { isStationId } from "./subjects.ts";

const SUFFIX = ".deleted";

/**
 * Records that `station`'s profile, up to `version`, was deleted.
 *
 * @param bucket the shared profile bucket
 * @param station the station whose profile was deleted
 * @param version the highest version it had
 */
export async function writeTombstone(bucket: ObjectStore, station: string, version: number): Promise<void> {
  await bucket.putBlob(
    { name: `${station}${SUFFIX}`, metadata: { version: String(version) } },
    new Uint8Array(0),
  );
}

/**
 * The tombstones in the bucket: the highest deleted version of each station.
 *
 * @param bucket the shared profile bucket
 * @returns station → deleted version
 */
export async function readTombstones(bucket: ObjectStore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const info of await bucket.list()) {
    if (info.deleted || !info.name.endsWith(SUFFIX)) continue;
    const station = info.name.slice(0, -SUFFIX.length);
    const version = Number(info.metadata?.version);
    if (isStationId(station) && Number.isInteger(version) && version >= 0) out.set(station, version);
  }
  return out;
}
