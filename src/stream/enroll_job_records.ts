/**
 * One file per running enrollment job (`<state-dir>/jobs/<station>.json`), so that a service that
 * was stopped mid-job can say so at its next start (the requester would otherwise wait for an
 * outcome that never comes) and free the job's group-wide lock.
 *
 * @module
 */
import { join } from "node:path";
import { reason } from "./profile_store.ts";
import { isStationId } from "./subjects.ts";

/** What is known of a job while it runs. */
export interface JobRecord {
  jobId: string;
  station: string;
  instance: string;
  startedAt: string;
  /** The revision of the station's key in the enroll-lock bucket, when the group holds one. */
  lockRevision?: number;
}

/** The job records in a state dir. */
export class JobRecords {
  readonly #dir: string;

  /** Records under `<stateDir>/jobs`. */
  constructor(stateDir: string) {
    this.#dir = join(stateDir, "jobs");
  }

  /** Writes the record of a job that starts. */
  async write(record: JobRecord): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    await Deno.writeTextFile(this.#path(record.station), JSON.stringify(record));
  }

  /** Removes the record of a station's job that ended (none is fine). */
  async remove(station: string): Promise<void> {
    await Deno.remove(this.#path(station)).catch(() => {});
  }

  /**
   * The records a previous run left (jobs it did not finish), each removed once read; a record that
   * cannot be read is logged and removed.
   */
  async takeLeftovers(log: (line: string) => void): Promise<JobRecord[]> {
    await Deno.mkdir(this.#dir, { recursive: true });
    const records: JobRecord[] = [];
    for await (const entry of Deno.readDir(this.#dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      const path = join(this.#dir, entry.name);
      try {
        const record = JSON.parse(await Deno.readTextFile(path)) as JobRecord;
        if (isStationId(record.station) && typeof record.jobId === "string") records.push(record);
      } catch (error) {
        log(`warning: unreadable job record ${path}: ${reason(error)}`);
      }
      await Deno.remove(path).catch(() => {});
    }
    return records;
  }

  #path(station: string): string {
    return join(this.#dir, `${station}.json`);
  }
}
