/** Message codecs: strict request decoding, lenient event decoding, frame headers. */
import assert from "node:assert/strict";
import {
  decodeEnrollProgress,
  decodeEnrollReply,
  decodeEnrollRequest,
  decodeResult,
  decodeStationRequest,
  decodeThresholdSetRequest,
  encodeMessage,
  type ResultMessage,
} from "../../src/stream/messages.ts";
import { parseCapturedAt, parseFrameId } from "../../src/stream/frame_headers.ts";
import { MessageError } from "../../src/stream/errors.ts";

Deno.test("decodeEnrollRequest() accepts every field within bounds", () => {
  const req = decodeEnrollRequest(
    encodeMessage({ shots: 3, seed: 7, label: "bottle", steps: 40, synth: "sd", frameIds: ["a", "b", "c"] }),
  );
  assert.deepEqual(req, {
    shots: 3,
    seed: 7,
    label: "bottle",
    steps: 40,
    synth: "sd",
    frameIds: ["a", "b", "c"],
  });
  assert.deepEqual(decodeEnrollRequest('{"shots":16}'), { shots: 16 });
});

Deno.test("decodeEnrollRequest() refuses what is malformed, unknown or absurd, saying why", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["null", /JSON object/],
    ['{"shots":17}', /from 1 to 16: got 17/],
    ['{"shots":-1}', /got -1/],
    ['{"shots":1e300}', /shots/],
    ['{"shots":4,"seed":-1}', /seed/],
    ['{"shots":4,"label":""}', /label/],
    ['{"shots":4,"label":"' + "x".repeat(65) + '"}', /label/],
    ['{"shots":1,"frameIds":"a"}', /list of frame ids/],
    ['{"shots":1,"frameIds":[1]}', /frameIds\[0\]/],
    ['{"shots":1,"frameIds":["' + "f".repeat(129) + '"]}', /frameIds\[0\]/],
    ['{"shots":1,"constructor":{}}', /unknown field "constructor"/],
    ['{"shots":1,"synth":"diffusion"}', /synth must be one of procedural, sd, mix/],
  ];
  for (const [body, message] of cases) {
    assert.throws(
      () => decodeEnrollRequest(body),
      (e: Error) => e instanceof MessageError && message.test(e.message),
    );
  }
  assert.throws(() => decodeEnrollRequest(new Uint8Array(70_000).fill(32)), /too large/);
});

Deno.test("decodeStationRequest() and decodeThresholdSetRequest() check the station id and the number", () => {
  assert.deepEqual(decodeStationRequest('{"station":"a-1"}'), { station: "a-1" });
  assert.throws(() => decodeStationRequest('{"station":"a.b"}'), /station must be a station id/);
  assert.deepEqual(decodeThresholdSetRequest('{"station":"a","threshold":-2.5}'), {
    station: "a",
    threshold: -2.5,
  });
  assert.throws(() => decodeThresholdSetRequest('{"station":"a","threshold":null}'), /finite number/);
});

Deno.test("decodeResult() keeps unknown fields of newer services and refuses missing contract fields", () => {
  const r: ResultMessage & { extra: number } = {
    station: "s",
    frameId: "f",
    capturedAt: null,
    receivedAt: "2024-01-01T00:00:00.000Z",
    scoredAt: "2024-01-01T00:00:00.010Z",
    score: 0.5,
    textScore: 0.2,
    patchScore: 0.1,
    threshold: 3,
    anomalous: false,
    profileVersion: 2,
    model: { id: "m", hash: "h" },
    latencyMs: 10,
    extra: 1,
  };
  assert.deepEqual(decodeResult(encodeMessage(r)), r);
  assert.throws(
    () => decodeResult(JSON.stringify({ ...r, score: "high" })),
    /field score must be null or a number: got "high"/,
  );
  assert.throws(
    () => decodeResult(JSON.stringify({ ...r, frameId: undefined })),
    /field frameId must be a string: got nothing/,
  );
  assert.throws(() => decodeEnrollReply('{"ok":"yes"}'), /field ok must be true or false: got "yes"/);
  assert.throws(() => decodeEnrollProgress('{"jobId":"j"}'), /station/);
});

Deno.test("parseFrameId() and parseCapturedAt() accept the contract's forms only", () => {
  assert.equal(parseFrameId("cam-1:000042"), "cam-1:000042");
  assert.equal(parseFrameId("has space"), undefined);
  assert.equal(parseFrameId("x".repeat(129)), undefined);
  assert.equal(parseFrameId(""), undefined);
  assert.equal(parseCapturedAt("2024-05-01T08:00:00.123Z"), "2024-05-01T08:00:00.123Z");
  assert.equal(parseCapturedAt("2024-05-01 08:00:00+00:00"), "2024-05-01T08:00:00.000Z");
  assert.equal(parseCapturedAt("0"), "1970-01-01T00:00:00.000Z");
  assert.equal(parseCapturedAt("99999999999999999"), null);
  assert.equal(parseCapturedAt("2024-13-45T99:00:00Z"), null);
  assert.equal(parseCapturedAt(undefined), null);
});
