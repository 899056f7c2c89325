/** The per-station ring of recent frames kept for enrollment by frame id. */
import assert from "node:assert/strict";
import { FrameRing } from "../../src/stream/frame_ring.ts";

Deno.test("FrameRing keeps the last frames of each station and finds them by id", () => {
  const ring = new FrameRing({ perStation: 2 });
  for (const id of ["a", "b", "c"]) ring.add("s1", id, new Uint8Array([id.charCodeAt(0)]));
  ring.add("s2", "a", new Uint8Array([9]));
  const found = ring.find("s1", ["c", "a", "b"]);
  assert.deepEqual(found.missing, ["a"]);
  assert.deepEqual(found.frames.map((f) => f[0]), [99, 98]);
  assert.deepEqual(ring.find("s2", ["a"]).frames[0], new Uint8Array([9]));
});

Deno.test("FrameRing evicts the oldest frame anywhere beyond its byte budget", () => {
  const ring = new FrameRing({ perStation: 10, totalBytes: 250 });
  ring.add("s1", "old", new Uint8Array(100));
  ring.add("s2", "mid", new Uint8Array(100));
  ring.add("s1", "new", new Uint8Array(100));
  assert.deepEqual(ring.find("s1", ["old", "new"]).missing, ["old"]);
  assert.equal(ring.count("s2"), 1);
  ring.add("s3", "huge", new Uint8Array(1000));
  assert.equal(ring.count("s3"), 0, "a frame larger than the budget is not kept");
  ring.add("s1", "new", new Uint8Array(10));
  assert.equal(ring.count("s1"), 1, "the same id replaces the older frame");
});
