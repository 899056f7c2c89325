/**
 * Frames answered while the bus was down. nats.js keeps what the service publishes during a
 * reconnect and sends it once the server is back, but a subscriber that was disconnected too (the
 * PLC's client, after a server restart) has not resubscribed yet and misses it, and without
 * JetStream frames in the server's buffers when it stopped are gone. The service cannot see those;
 * it counts what it can: disconnections, and the results it published while disconnected (each may
 * have been missed), reported in one log line once the bus is back and in the status reply.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";

/** What the status reply says of the bus's faults. */
export interface BusFaultCounts {
  /** Times the connection was lost. */
  disconnects: number;
  /** Results published while it was lost (sent on reconnect; a subscriber also disconnected missed them). */
  answeredWhileDisconnected: number;
}

/** Follows the connection's status and counts results published while it is down. */
export class BusFaults {
  readonly #counts: BusFaultCounts = { disconnects: 0, answeredWhileDisconnected: 0 };
  /** Results per station during the current outage. */
  readonly #outage = new Map<string, number>();
  #down = false;

  /**
   * Starts following `nc`'s status events (until it closes).
   *
   * @param nc the service's connection
   * @param log where the summary of an outage goes once the bus is back
   */
  constructor(nc: NatsConnection, log: (line: string) => void) {
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" && !this.#down) {
          this.#down = true;
          this.#counts.disconnects++;
        } else if (s.type === "reconnect" && this.#down) {
          this.#down = false;
          const total = [...this.#outage.values()].reduce((a, b) => a + b, 0);
          const by = [...this.#outage].map(([station, n]) => `${station} ${n}`).join(", ");
          log(
            `warning: the NATS connection is back; ${total} result(s) were published while it was down${
              total ? ` (${by}): subscribers that were disconnected too missed them` : ""
            }`,
          );
          this.#outage.clear();
        }
      }
    })().catch(() => {});
  }

  /** Counts a result of `station` published now, if the bus is down. */
  published(station: string): void {
    if (!this.#down) return;
    this.#counts.answeredWhileDisconnected++;
    this.#outage.set(station, (this.#outage.get(station) ?? 0) + 1);
  }

  /** The counts so far. */
  get counts(): BusFaultCounts {
    return { ...this.#counts };
  }
}
