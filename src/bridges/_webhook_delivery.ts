/**
 * Delivery of anomaly events to one HTTP endpoint: a queue per station, a token bucket per station
 * (rate limit with a burst), optional grouping of a burst into one POST, and retries with
 * exponential backoff until the endpoint answers 2xx. An event is acknowledged (JetStream) only
 * after its 2xx, and an event id already delivered is never POSTed again.
 *
 * @module
 */

/** One event waiting for delivery. */
export interface PendingEvent {
  eventId: string;
  station: string;
  /** The JSON body's fields for this event. */
  body: Record<string, unknown>;
  /** Called once the endpoint took it (2xx), or when it was a duplicate. */
  done(): void;
  /** Called while retries go on, so that JetStream does not redeliver it meanwhile. */
  working(): void;
  /** Called for an event still undelivered when the bridge stops (JetStream: redeliver it at once). */
  abandon(): void;
}

/** Delivery settings. */
export interface DeliveryOptions {
  url: string;
  /** Extra request headers (Authorization, …). */
  headers?: Record<string, string>;
  /** POSTs per second per station. @default 10 */
  ratePerSecond?: number;
  /** POSTs a station may send at once before the rate applies. @default 20 */
  burst?: number;
  /** Group a station's events arriving within this window into one POST; 0 sends one POST per event. @default 0 */
  groupMs?: number;
  /** Most events in one grouped POST. @default 50 */
  maxGroup?: number;
  /** First retry delay, doubled up to `maxBackoffMs`. @default 250 */
  backoffMs?: number;
  /** Kept under JetStream's 30 s ack wait, as each failed try also tells JetStream the event is in work. @default 15000 */
  maxBackoffMs?: number;
  /** One request's time limit. @default 10000 */
  timeoutMs?: number;
  log: (line: string) => void;
}

/** Counters of a delivery. */
export interface DeliveryStats {
  received: number;
  /** Events the endpoint took (2xx). */
  delivered: number;
  /** POSTs made (first tries and retries). */
  posts: number;
  /** POSTs that failed (non-2xx, refused connection, timeout). */
  failedPosts: number;
  /** Events skipped because they had been delivered already (JetStream redelivery). */
  duplicates: number;
  /** Events waiting or being retried now. */
  pending: number;
}

const DELIVERED_MEMORY = 20_000;

/** Queues, rate limits and POSTs events; see the module doc. */
export class WebhookDelivery {
  readonly #opts: DeliveryOptions;
  readonly #queues = new Map<string, PendingEvent[]>();
  readonly #running = new Set<string>();
  readonly #delivered = new Set<string>();
  readonly #tokens = new Map<string, { tokens: number; at: number }>();
  readonly #workers = new Set<Promise<void>>();
  #stopping = false;
  #wake = new Set<() => void>();
  /** Counters so far. */
  readonly stats: DeliveryStats = {
    received: 0,
    delivered: 0,
    posts: 0,
    failedPosts: 0,
    duplicates: 0,
    pending: 0,
  };

  /** @param opts endpoint, limits and retry policy */
  constructor(opts: DeliveryOptions) {
    this.#opts = opts;
  }

  /** Queues an event (skipped, and done at once, when its id was delivered already). */
  add(event: PendingEvent): void {
    this.stats.received++;
    if (this.#delivered.has(event.eventId)) {
      this.stats.duplicates++;
      event.done();
      return;
    }
    const q = this.#queues.get(event.station) ?? [];
    this.#queues.set(event.station, q);
    if (q.some((e) => e.eventId === event.eventId)) {
      // Redelivered while the first copy waits: that copy's acknowledgement covers both.
      this.stats.duplicates++;
      return;
    }
    q.push(event);
    this.stats.pending++;
    if (!this.#running.has(event.station)) {
      this.#running.add(event.station);
      const worker = this.#work(event.station).finally(() => {
        this.#running.delete(event.station);
        this.#workers.delete(worker);
      });
      this.#workers.add(worker);
    }
  }

  /** Stops retrying; events not delivered are abandoned (JetStream redelivers them to the next run). */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const wake of this.#wake) wake();
    await Promise.all(this.#workers);
    for (const q of this.#queues.values()) {
      for (const e of q.splice(0)) e.abandon();
    }
  }

  async #work(station: string): Promise<void> {
    const q = this.#queues.get(station)!;
    while (q.length && !this.#stopping) {
      await this.#takeToken(station);
      if ((this.#opts.groupMs ?? 0) > 0) await this.#sleep(this.#opts.groupMs!);
      if (this.#stopping) break;
      const batch = q.splice(0, (this.#opts.groupMs ?? 0) > 0 ? this.#opts.maxGroup ?? 50 : 1);
      const ok = await this.#deliver(batch);
      if (!ok) {
        q.unshift(...batch);
        break;
      }
      for (const e of batch) {
        this.#remember(e.eventId);
        this.stats.delivered++;
        this.stats.pending--;
        e.done();
      }
    }
  }

  /** POSTs until a 2xx (true) or until stopped (false). */
  async #deliver(batch: PendingEvent[]): Promise<boolean> {
    const body = batch.length === 1 ? batch[0].body : groupBody(batch);
    let backoff = this.#opts.backoffMs ?? 250;
    for (let attempt = 1; !this.#stopping; attempt++) {
      this.stats.posts++;
      const failure = await this.#post(body, batch[0].eventId);
      if (failure === undefined) return true;
      this.stats.failedPosts++;
      for (const e of batch) e.working();
      this.#opts.log(
        `adp bridge webhook: ${batch[0].eventId}${batch.length > 1 ? ` (+${batch.length - 1})` : ""}: ` +
          `attempt ${attempt} failed (${failure}); retry in ${backoff} ms`,
      );
      await this.#sleep(backoff);
      backoff = Math.min(backoff * 2, this.#opts.maxBackoffMs ?? 15_000);
    }
    return false;
  }

  /** One POST; undefined on a 2xx, else why it failed. */
  async #post(body: Record<string, unknown>, eventId: string): Promise<string | undefined> {
    try {
      const res = await fetch(this.#opts.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "idempotency-key": eventId,
          ...this.#opts.headers,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#opts.timeoutMs ?? 10_000),
      });
      await res.body?.cancel();
      return res.ok ? undefined : `HTTP ${res.status}`;
    } catch (error) {
      return (error as Error).message.split("\n")[0];
    }
  }

  async #takeToken(station: string): Promise<void> {
    const rate = this.#opts.ratePerSecond ?? 10, burst = this.#opts.burst ?? 20;
    const b = this.#tokens.get(station) ?? { tokens: burst, at: performance.now() };
    this.#tokens.set(station, b);
    const now = performance.now();
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000);
    b.at = now;
    if (b.tokens < 1) {
      await this.#sleep(((1 - b.tokens) * 1000) / rate);
      b.tokens = 1;
      b.at = performance.now();
    }
    b.tokens -= 1;
  }

  #remember(eventId: string): void {
    this.#delivered.add(eventId);
    if (this.#delivered.size > DELIVERED_MEMORY) {
      this.#delivered.delete(this.#delivered.values().next().value!);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wake.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wake.add(wake);
    });
  }
}

/** The body of a grouped POST: the first event's identity, and every event in `events`. */
function groupBody(batch: PendingEvent[]): Record<string, unknown> {
  return {
    ...batch[0].body,
    grouped: true,
    count: batch.length,
    events: batch.map((e) => e.body),
  };
}
