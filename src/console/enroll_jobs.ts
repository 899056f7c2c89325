/**
 * Enrollments started from the console: one job per station at a time, run through the stream
 * client's `requestEnrollment`, its progress kept (the last message) and told to listeners so the
 * Teach page can draw the bar, the stage and the ETA.
 *
 * @module
 */
import {
  type BusConnection,
  type EnrollProgressMessage,
  type EnrollRequest,
  requestEnrollment,
} from "../stream/mod.ts";
import { ConsoleRequestError } from "./errors.ts";

/** A job's state as the Teach page shows it. */
export interface EnrollJobView {
  /** The station. */
  station: string;
  /** The last progress message; null until the first. */
  progress: EnrollProgressMessage | null;
  /** Why the job could not run or follow, when it could not. */
  error: string | null;
  /** Whether the job is still running. */
  running: boolean;
  /** The profile version in force when the job started (for the comparison). */
  previousVersion: number | null;
}

/** The console's enrollment jobs. */
export class EnrollJobs {
  readonly #nc: BusConnection;
  readonly #jobs = new Map<string, EnrollJobView>();
  readonly #listeners = new Set<(job: EnrollJobView) => void>();
  readonly #running = new Set<Promise<void>>();

  /** No jobs yet. */
  constructor(nc: BusConnection) {
    this.#nc = nc;
  }

  /** A station's job, if one was started. */
  job(station: string): EnrollJobView | undefined {
    return this.#jobs.get(station);
  }

  /** Hears every job change; returns the function that stops listening. */
  listen(fn: (job: EnrollJobView) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Starts enrolling `station`; resolves once the service accepted the job.
   *
   * @throws {ConsoleRequestError} 409 when a job of the console runs for it; the service's refusal otherwise
   */
  start(station: string, request: EnrollRequest, previousVersion: number | null): Promise<void> {
    if (this.#jobs.get(station)?.running) {
      return Promise.reject(new ConsoleRequestError(`Station ${station} is already enrolling`, 409));
    }
    const view: EnrollJobView = { station, progress: null, error: null, running: true, previousVersion };
    this.#jobs.set(station, view);
    this.#tell(view);
    return new Promise((accepted, refused) => {
      let isAccepted = false;
      const run = (async () => {
        try {
          const job = requestEnrollment(this.#nc, station, request, {
            onAccepted: () => {
              isAccepted = true;
              accepted();
            },
          });
          for await (const p of job) {
            view.progress = p;
            this.#tell(view);
          }
        } catch (error) {
          view.error = (error as Error).message;
          if (!isAccepted) refused(new ConsoleRequestError(view.error, 409, { cause: error }));
        } finally {
          view.running = false;
          this.#tell(view);
        }
      })();
      this.#running.add(run);
      run.finally(() => this.#running.delete(run));
    });
  }

  /** Resolves when no job is being followed. */
  async settled(): Promise<void> {
    while (this.#running.size) await Promise.all([...this.#running]);
  }

  #tell(view: EnrollJobView): void {
    for (const fn of this.#listeners) fn({ ...view });
  }
}
