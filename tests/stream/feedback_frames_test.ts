import assert from "node:assert/strict";
import { decodeFeedbackRequest, FeedbackFrames } from "../../src/stream/feedback.ts";
import { FrameRing } from "../../src/stream/frame_ring.ts";
import { MessageError } from "../../src/stream/errors.ts";

Deno.test("FeedbackFrames keeps a flagged frame after the recent ring has let it go", () => {
  const recent = new FrameRing({ perStation: 2 });
  const frames = new FeedbackFrames(recent, { flaggedPerStation: 2 });
  const bytes = (n: number) => new Uint8Array(4).fill(n);
  recent.add("s", "f1", bytes(1));
  frames.flag("s", "f1");
  recent.add("s", "f2", bytes(2));
  recent.add("s", "f3", bytes(3)); // f1 leaves the recent ring
  assert.equal(recent.find("s", ["f1"]).frames.length, 0);
  assert.deepEqual(frames.find("s", "f1"), bytes(1));
  assert.deepEqual(frames.find("s", "f3"), bytes(3));
  assert.equal(frames.find("s", "f0"), undefined);
  assert.equal(frames.find("other", "f1"), undefined);
  frames.flag("s", "gone"); // no longer held: nothing to keep
  for (const id of ["f2", "f3"]) frames.flag("s", id);
  assert.equal(frames.find("s", "f1"), undefined, "the flagged ring is bounded too");
});

Deno.test("decodeFeedbackRequest refuses what is not {frameId, label, note?, by?}", () => {
  assert.deepEqual(decodeFeedbackRequest('{"frameId":"f","label":"defect","note":"scratch","by":"op1"}'), {
    frameId: "f",
    label: "defect",
    note: "scratch",
    by: "op1",
  });
  for (
    const [body, why] of [
      ['{"label":"good"}', /frameId/],
      ['{"frameId":"f","label":"bad"}', /label must be/],
      ['{"frameId":"f","label":"good","extra":1}', /unknown field "extra"/],
      ["not json", /JSON/],
    ] as const
  ) assert.throws(() => decodeFeedbackRequest(body), (e) => e instanceof MessageError && why.test(e.message));
});
