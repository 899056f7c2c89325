/**
 * `adp bridge webhook`: every anomaly event POSTed as JSON to an HTTP endpoint, with the heat map
 * linked (its object-store reference, and a URL under `heatmapBaseUrl`) or attached (base64 PNG).
 * The body carries `eventId` (`<station>.<frameId>`, the JetStream de-duplication id), `station`,
 * `frameId` and the rest of the event; the `Idempotency-Key` header repeats the event id. With
 * `jetstream` the events come from the `ADP_ANOMALIES` stream through a durable consumer and are
 * acknowledged only after the endpoint's 2xx, so neither a bridge restart nor a dead endpoint loses
 * one; without it the bridge follows `adp.anomalies.*` live.
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { encodeBase64 } from "./_base64.ts";
import {
  ANOMALIES_WILDCARD,
  anomaliesSubject,
  type AnomalyMessage,
  anomalyMsgId,
  decodeAnomaly,
  JetStreamName,
} from "../stream/mod.ts";
import { type DeliveryOptions, type DeliveryStats, WebhookDelivery } from "./_webhook_delivery.ts";

/** Options of {@linkcode startWebhookBridge}. */
export interface WebhookBridgeOptions extends Omit<DeliveryOptions, "log"> {
  /** Consume the `ADP_ANOMALIES` stream through a durable consumer. @default false */
  jetstream?: boolean;
  /** The durable consumer's name. @default "adp-webhook" */
  durable?: string;
  /** Only these stations (default: all). */
  stations?: string[];
  /** Fetch the heat-map PNG from the object store and put it in the body as `heatmapPng` (base64). */
  attachHeatmap?: boolean;
  /** A URL prefix under which `<bucket>/<key>` serves heat maps; adds `heatmapUrl` to the body. */
  heatmapBaseUrl?: string;
  /** @default console.error */
  log?: (line: string) => void;
}

/** A running webhook bridge. */
export interface WebhookBridge extends AsyncDisposable {
  stats(): DeliveryStats;
  stop(): Promise<void>;
}

/**
 * Starts POSTing anomaly events.
 *
 * @param nc the bus
 * @param opts endpoint, JetStream, limits
 * @returns the running bridge
 *
 * @example
 * ```ts ignore
 * await using hook = await startWebhookBridge(nc, { url: "http://alarms.local/adp", jetstream: true });
 * ```
 */
export async function startWebhookBridge(
  nc: NatsConnection,
  opts: WebhookBridgeOptions,
): Promise<WebhookBridge> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const delivery = new WebhookDelivery({ ...opts, log });
  const intake: Intake = { nc, opts, log, delivery, bodyOf: bodyMaker(nc, opts, log) };
  const stopIntake = opts.jetstream ? await streamIntake(intake) : await liveIntake(intake);
  log(`adp bridge webhook: POSTing anomaly events to ${opts.url}${opts.jetstream ? " from JetStream" : ""}`);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await stopIntake();
      await delivery.stop();
    })();
  return { stats: () => ({ ...delivery.stats }), stop, [Symbol.asyncDispose]: stop };
}

/** What both intakes need. */
interface Intake {
  nc: NatsConnection;
  opts: WebhookBridgeOptions;
  log: (line: string) => void;
  delivery: WebhookDelivery;
  bodyOf: (event: AnomalyMessage) => Promise<Record<string, unknown>>;
}

/** Events from the durable consumer, acknowledged after their 2xx; returns the intake's stop. */
async function streamIntake({ nc, opts, log, delivery, bodyOf }: Intake): Promise<() => Promise<void>> {
  const consumer = await durableConsumer(nc, opts);
  const wanted = (station: string) => !opts.stations?.length || opts.stations.includes(station);
  let stopping = false;
  const loop = (async () => {
    // Short fetches rather than one endless consume: once the last fetch ended, no pull request of
    // this bridge is left on the server, so events abandoned at stop go to the next run at once.
    while (!stopping && !nc.isClosed()) {
      const batch = await consumer.fetch({ max_messages: 100, expires: 1000 }).catch(() => undefined);
      if (!batch) {
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      for await (const m of batch) {
        const event = parse(m, log);
        if (!event || !wanted(event.station)) {
          m.ack();
          continue;
        }
        delivery.add({
          eventId: anomalyMsgId(event.station, event.frameId),
          station: event.station,
          body: await bodyOf(event),
          done: () => m.ack(),
          working: () => m.working(),
          abandon: () => m.nak(),
        });
      }
    }
  })();
  return async () => {
    stopping = true;
    await loop;
  };
}

/** Events followed live on `adp.anomalies.*` (lost while the bridge is down); returns the intake's stop. */
async function liveIntake({ nc, opts, log, delivery, bodyOf }: Intake): Promise<() => Promise<void>> {
  const subjects = opts.stations?.length ? opts.stations.map(anomaliesSubject) : [ANOMALIES_WILDCARD];
  const subs: Subscription[] = subjects.map((subject) =>
    nc.subscribe(subject, {
      callback: (_e, m) => {
        const event = parse(m, log);
        if (!event) return;
        void bodyOf(event).then((body) =>
          delivery.add({
            eventId: anomalyMsgId(event.station, event.frameId),
            station: event.station,
            body,
            done: () => {},
            working: () => {},
            abandon: () =>
              log(`adp bridge webhook: ${event.station}.${event.frameId} not delivered before stop`),
          })
        );
      },
    })
  );
  await nc.flush();
  return () => {
    for (const s of subs) s.unsubscribe();
    return Promise.resolve();
  };
}

/** The durable consumer; the stream is created (as `adp serve` would) when missing. */
async function durableConsumer(nc: NatsConnection, opts: WebhookBridgeOptions): Promise<Consumer> {
  const jsm = await jetstreamManager(nc);
  const stream = JetStreamName.anomalyStream;
  await jsm.streams.info(stream).catch(() =>
    jsm.streams.add({
      name: stream,
      subjects: [ANOMALIES_WILDCARD],
      duplicate_window: nanos(2 * 60 * 1000),
      max_age: nanos(30 * 24 * 3600 * 1000),
    })
  );
  const durable = opts.durable ?? "adp-webhook";
  await jsm.consumers.info(stream, durable).catch(() =>
    jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(30_000),
      max_ack_pending: 1000,
    })
  );
  return await jetstream(nc).consumers.get(stream, durable);
}

function parse(m: Msg | JsMsg, log: (line: string) => void): AnomalyMessage | undefined {
  try {
    return decodeAnomaly(m.data);
  } catch (error) {
    log(`adp bridge webhook: unreadable event on ${m.subject}: ${(error as Error).message}`);
    return undefined;
  }
}

function bodyMaker(nc: NatsConnection, opts: WebhookBridgeOptions, log: (line: string) => void) {
  const objm = new Objm(nc);
  return async (event: AnomalyMessage): Promise<Record<string, unknown>> => {
    const body: Record<string, unknown> = { eventId: anomalyMsgId(event.station, event.frameId), ...event };
    const ref = event.heatmap;
    if (ref && opts.heatmapBaseUrl) {
      const path = ref.store === "object-store" ? `${ref.bucket}/${ref.key}` : ref.key;
      body.heatmapUrl = `${opts.heatmapBaseUrl.replace(/\/$/, "")}/${path}`;
    }
    if (ref && opts.attachHeatmap && ref.store === "object-store" && ref.bucket) {
      try {
        const bucket = await objm.open(ref.bucket);
        const png = await bucket.getBlob(ref.key);
        if (png) body.heatmapPng = encodeBase64(png);
        else body.heatmapError = `Heat map ${ref.bucket}/${ref.key} is no longer stored`;
      } catch (error) {
        body.heatmapError = `Heat map could not be read: ${(error as Error).message}`;
        log(`adp bridge webhook: ${body.heatmapError}`);
      }
    }
    return body;
  };
}
