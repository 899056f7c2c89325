/**
 * Frames with headers nats.js refuses to parse, or names in another letter case, are answered like
 * any other frame: a result per frame, with the camera's frame id (issue 17, defect 1).
 */
import assert from "node:assert/strict";
import { startProcessor } from "../../src/stream/processor.ts";
import { decodeResult, type ResultMessage } from "../../src/stream/messages.ts";
import { parseHeaderBlock } from "../../src/stream/frame_headers.ts";
import { framesSubject, RESULTS_WILDCARD } from "../../src/stream/subjects.ts";
import { RawPublisher } from "../../bench/soak/raw_publish.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, Gather, stateDirWith, tinyModel } from "./_fixture.ts";

Deno.test("parseHeaderBlock() keeps names nats.js refuses and skips lines without a colon", () => {
  const block = new TextEncoder().encode("NATS/1.0\r\nCamera Serial: 42\r\nKamera-Nr°: 7\r\njunk\r\n\r\n");
  assert.deepEqual(parseHeaderBlock(block), [["Camera Serial", ["42"]], ["Kamera-Nr°", ["7"]]]);
});

Deno.test({
  name:
    "startProcessor() answers frames whose header names nats.js refuses, and reads Adp-Frame-Id in any case",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { cam: {} });
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, { clip: model.clip, stateDir, log: () => {} });
      const results = new Gather<ResultMessage>(client, RESULTS_WILDCARD, (m) => decodeResult(m.data));
      await client.flush();
      await using raw = await RawPublisher.connect(ns.url);
      const frame = await bottle(4);
      const sent: [string, [string, string][]][] = [
        ["hdr-space", [["Camera Serial", "42"], ["Adp-Frame-Id", "hdr-space"]]],
        ["hdr-utf8", [["Kamera-Nr°", "7"], ["Adp-Frame-Id", "hdr-utf8"]]],
        ["hdr-lower", [["adp-frame-id", "hdr-lower"], ["adp-captured-at", "1700000000000"]]],
        ["hdr-upper", [["ADP-FRAME-ID", "hdr-upper"]]],
      ];
      for (const [, headers] of sent) await raw.publish(framesSubject("cam"), frame, headers);
      await raw.flush();
      await results.count(sent.length, 60_000);
      await processor.stop();
      results.stop();
      const ids = results.items.map((r) => r.frameId).sort();
      assert.deepEqual(ids, sent.map(([id]) => id).sort(), "one result per frame, with the camera's id");
      for (const r of results.items) assert.equal(r.error, undefined, r.error);
      const lower = results.items.find((r) => r.frameId === "hdr-lower")!;
      assert.equal(lower.capturedAt, "2023-11-14T22:13:20.000Z");
      assert.equal(processor.status().malformedHeaderFrames, 2);
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
