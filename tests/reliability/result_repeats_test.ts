/**
 * Issue 17, item 7 (the effect of a redelivery on live subscribers). With `--jetstream` a frame is
 * acknowledged after its result is published; an instance killed between the two leaves the frame
 * to be delivered again and answered again. nats-server 2.9 de-duplicates by `Nats-Msg-Id` only what
 * a stream stores: measured here, a live subscriber of `adp.results.<station>` receives both answers,
 * the result stream keeps one. The guarantee documented in the README is therefore: at-least-once to
 * live subscribers, each answer of one frame with the same `Nats-Msg-Id`; exactly-once in
 * `ADP_RESULTS`; and `ResultRepeats` (which the PLC bridges use) turns that into an exactly-once
 * effect. Before it, a bridge counted a redelivered frame twice.
 */
import assert from "node:assert/strict";
import { headers, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { startBridgeRuntime } from "../../src/bridges/mod.ts";
import { startDurableFrames } from "../../src/stream/durable_frames.ts";
import { encodeMessage, type ResultMessage } from "../../src/stream/messages.ts";
import { ResultRepeats } from "../../src/stream/result_repeats.ts";
import type { DurableDelivery } from "../../src/stream/stations.ts";
import { framesSubject, Header, JetStreamName, resultsSubject } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";

Deno.test("a redelivered frame's two answers reach live subscribers with one Nats-Msg-Id; the stream and a bridge count one", async () => {
  const ns = await setup({ jetstream: true });
  const service = await ns.connect("service");
  const client = await ns.connect("client");
  const live: Msg[] = [];
  const sub = client.subscribe(resultsSubject("line"), { callback: (_e, m) => void live.push(m) });
  const bridge = await startBridgeRuntime(client, { stations: ["line"], log: () => {} });
  await client.flush();
  const deliveries: DurableDelivery[] = [];
  // The service's path: answer on adp.results.<station> with the frame's Nats-Msg-Id, then settle.
  const answer = (nc: NatsConnection, d: DurableDelivery) => {
    deliveries.push(d);
    const now = new Date().toISOString();
    const result: ResultMessage = {
      station: "line",
      frameId: "f-1",
      capturedAt: null,
      receivedAt: now,
      scoredAt: now,
      score: 0.1,
      textScore: 0.1,
      patchScore: 0.1,
      threshold: 0.5,
      anomalous: false,
      profileVersion: 1,
      model: { id: "tiny", hash: "0" },
      latencyMs: 1,
    };
    const h = headers();
    h.set(Header.frameId, "f-1");
    h.set(Header.msgId, `line.${d.resultId}`);
    nc.publish(resultsSubject("line"), encodeMessage(result), { headers: h });
  };
  const opts = { queueGroup: "adp", ackWaitMs: 1000, log: () => {} };
  // The first instance answers and dies before its ack (while it lives it marks the frame in progress).
  let answered!: () => void;
  const firstAnswered = new Promise<void>((r) => answered = r);
  const first = await startDurableFrames(service, opts, (_m, d) => {
    answer(service, d);
    answered();
  });
  let second: Awaited<ReturnType<typeof startDurableFrames>> | undefined;
  try {
    await jetstream(client).publish(framesSubject("line"), new Uint8Array([1, 2, 3]), { msgID: "f-1" });
    await firstAnswered;
    await service.flush();
    await service.close();
    const next = await ns.connect("service-2");
    second = await startDurableFrames(next, opts, (_m, d) => {
      answer(next, d);
      d.settle();
    });
    const deadline = Date.now() + 20_000;
    while (live.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(deliveries.length, 2, "the unacknowledged frame was delivered again");
    assert.equal(deliveries[0].resultId, deliveries[1].resultId);
    assert.equal(live.length, 2, "nats-server routes both answers to a live subscriber");
    const ids = live.map((m) => m.headers?.get(Header.msgId));
    assert.equal(ids[0], ids[1], "both answers carry the same Nats-Msg-Id");
    const repeats = new ResultRepeats();
    assert.deepEqual(live.map((m) => repeats.isRepeat(m.headers)), [false, true]);
    const jsm = await jetstream(client).jetstreamManager();
    const info = await jsm.streams.info(JetStreamName.resultStream);
    assert.equal(info.state.messages, 1, "the result stream keeps one");
    assert.equal(
      info.config.duplicate_window,
      info.config.max_age,
      "a repeat is recognised as long as a frame can be redelivered",
    );
    assert.equal(bridge.stations().find((s) => s.station === "line")?.framesSeen, 1, "the bridge counts one");
  } finally {
    sub.unsubscribe();
    await bridge[Symbol.asyncDispose]();
    await second?.stop();
    await first.stop().catch(() => {});
    await cleanup(ns);
  }
});
