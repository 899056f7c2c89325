/** Subject builders and station ids: the only way a subject or a profile file name is made. */
import assert from "node:assert/strict";
import { printable } from "../../src/guard.ts";
import {
  anomaliesSubject,
  anomalyMsgId,
  checkStationId,
  enrollProgressSubject,
  enrollSubject,
  eventSubjects,
  framesSubject,
  invalidResultsSubject,
  isStationId,
  resultsSubject,
  subjectRest,
} from "../../src/stream/subjects.ts";
import { SubjectError } from "../../src/stream/errors.ts";

Deno.test("subject builders give the contract's subjects for a valid station", () => {
  assert.equal(framesSubject("line-1"), "adp.frames.line-1");
  assert.equal(resultsSubject("line_2"), "adp.results.line_2");
  assert.equal(anomaliesSubject("A9"), "adp.anomalies.A9");
  assert.equal(enrollSubject("s"), "adp.enroll.s");
  assert.equal(enrollProgressSubject("s"), "adp.enroll.s.progress");
  assert.equal(invalidResultsSubject(), "adp.results.$invalid");
  assert.deepEqual(eventSubjects("*"), { results: "adp.results.*", anomalies: "adp.anomalies.*" });
  assert.equal(anomalyMsgId("s", "f-1"), "s.f-1");
});

Deno.test("checkStationId() refuses wildcards, extra tokens, paths, empty and over-long ids", () => {
  for (
    const bad of ["", "*", ">", "a.b", "../etc", "a/b", "a b", "st@tion", "x".repeat(65), "é", "$invalid"]
  ) {
    assert.equal(isStationId(bad), false, bad);
    assert.throws(() => framesSubject(bad), SubjectError);
  }
  assert.equal(checkStationId("x".repeat(64)), "x".repeat(64));
  assert.throws(() => checkStationId(42), /Station id "42" is invalid: use 1–64 characters/);
});

Deno.test("subjectRest() returns the unvalidated rest of a received subject", () => {
  assert.equal(subjectRest("adp.frames.a.b", "adp.frames"), "a.b");
  assert.equal(subjectRest("other.frames.a", "adp.frames"), undefined);
});

Deno.test("printable() shows control characters and shortens long values", () => {
  assert.equal(printable("a\u0000b\n"), "a\\x00b\\x0a");
  assert.equal(printable("y".repeat(150)).length, 101);
});
