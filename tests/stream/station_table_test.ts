/**
 * The station table (issue 17, defect 6): past its limit, idle stations without a profile are
 * forgotten to make room, so new stations keep being answered as what they are; an enrollment
 * request for a station that cannot be tracked is refused at once rather than accepted and failed.
 */
import assert from "node:assert/strict";
import { startProcessor } from "../../src/stream/processor.ts";
import {
  decodeResult,
  type EnrollReply,
  FrameErrorReason,
  type ResultMessage,
} from "../../src/stream/messages.ts";
import { enrollSubject, framesSubject, RESULTS_WILDCARD } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, Gather, sendFrame, stateDirWith, tinyModel } from "./_fixture.ts";

Deno.test({
  name:
    "startProcessor() forgets idle stations past maxStations, keeps enrolled ones, and refuses enrollment it could not track",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { line: {} });
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, {
        clip: model.clip,
        stateDir,
        log: () => {},
        maxStations: 4,
        collectTimeoutMs: 60_000,
      });
      const results = new Gather<ResultMessage>(client, RESULTS_WILDCARD, (m) => decodeResult(m.data));
      await client.flush();
      const frame = await bottle(4);
      for (let i = 0; i < 20; i++) sendFrame(client, framesSubject(`invented-${i}`), frame, `inv-${i}`);
      sendFrame(client, framesSubject("line"), frame, "line-0");
      await results.count(21, 60_000);
      for (const r of results.items.filter((r) => r.frameId.startsWith("inv-"))) {
        assert.equal(r.reason, FrameErrorReason.noProfile, r.error);
      }
      const line = results.items.find((r) => r.frameId === "line-0")!;
      assert.equal(line.error, undefined, line.error);
      assert.ok(processor.status().stations.length <= 4);
      assert.ok(processor.status().stations.some((s) => s.station === "line"), "the enrolled station stays");
      const reply = (await client.request(enrollSubject("newcam"), JSON.stringify({ shots: 2 }))).json<
        EnrollReply
      >();
      assert.equal(reply.ok, true, JSON.stringify(reply));
      await processor.stop();

      // With every tracked station holding a profile there is no room: the request is refused now.
      const full = await startProcessor(svc, { clip: model.clip, stateDir, log: () => {}, maxStations: 1 });
      const refused = (await client.request(enrollSubject("other"), JSON.stringify({ shots: 2 }))).json<
        EnrollReply
      >();
      assert.equal(refused.ok, false);
      assert.equal(!refused.ok && refused.code, "too-many-stations");
      await full.stop();
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
