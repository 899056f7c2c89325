/**
 * The station table (issue 17, defect 6): past its limit, idle stations are forgotten to make
 * room (without a profile first; a profile stays on disk and is loaded again on the station's next
 * frame), so new stations keep being answered as what they are; an enrollment request for a
 * station that cannot be tracked is refused at once rather than accepted and failed.
 */
import assert from "node:assert/strict";
import { startProcessor } from "../../src/stream/processor.ts";
import {
  decodeResult,
  type EnrollReply,
  FrameErrorReason,
  type ProfileListReply,
  type ResultMessage,
} from "../../src/stream/messages.ts";
import {
  Endpoint,
  enrollSubject,
  framesSubject,
  RESULTS_WILDCARD,
  serviceSubject,
} from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { join } from "node:path";
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

      // With the only tracked station enrolling again there is no room: the request is refused now.
      const full = await startProcessor(svc, {
        clip: model.clip,
        stateDir,
        log: () => {},
        maxStations: 1,
        collectTimeoutMs: 60_000,
      });
      const first = (await client.request(enrollSubject("line"), JSON.stringify({ shots: 2 }))).json<
        EnrollReply
      >();
      assert.equal(first.ok, true, JSON.stringify(first));
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

Deno.test({
  name:
    "startProcessor() evicts idle stations with a profile past maxStations and loads the profile again on their next frame",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const versions: Record<string, number> = { a: 3, b: 5, c: 7 };
    const stateDir = await stateDirWith(model.clip, {
      a: { version: 3 },
      b: { version: 5 },
      c: { version: 7 },
    });
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      // Three profiles on disk, room for two: a and b are loaded at start, c waits on disk.
      const processor = await startProcessor(svc, {
        clip: model.clip,
        stateDir,
        log: () => {},
        maxStations: 2,
      });
      const atStart = processor.status().stations;
      assert.deepEqual(
        atStart.map((s) => [s.station, s.profileVersion, s.profileLoaded ?? true]),
        [["a", 3, true], ["b", 5, true], ["c", 7, false]],
      );
      assert.equal(processor.status().evictedStations, 0);
      const results = new Gather<ResultMessage>(client, RESULTS_WILDCARD, (m) => decodeResult(m.data));
      await client.flush();
      const frame = await bottle(4);
      // A station without a profile first: it takes the place of a, the longest idle.
      sendFrame(client, framesSubject("x"), frame, "x-0");
      await results.count(1, 60_000);
      assert.equal(results.items[0].reason, FrameErrorReason.noProfile);
      results.items.length = 0;
      const turns = ["a", "b", "c", "a", "b", "c", "a"];
      for (const [i, station] of turns.entries()) {
        // Two frames a turn: the second arrives while the profile is still loading, and waits too.
        sendFrame(client, framesSubject(station), frame, `${station}-${i}`);
        sendFrame(client, framesSubject(station), frame, `${station}-${i}-again`);
        // One turn at a time: each station's frames arrive after it was evicted.
        await results.count(2 * (i + 1), 60_000);
        const status = processor.status();
        assert.ok(
          status.stations.filter((s) => s.profileLoaded !== false).length <= 2,
          JSON.stringify(status),
        );
      }
      assert.equal(results.items.length, 2 * turns.length);
      for (const r of results.items) {
        assert.equal(r.error, undefined, `${r.frameId}: ${r.error}`);
        assert.equal(r.profileVersion, versions[r.station], r.frameId);
      }
      const status = processor.status();
      // x evicts a; every turn then evicts one (x itself first), but b's first: b was still loaded.
      assert.equal(status.evictedStations, 1 + (turns.length - 1));
      const parked = status.stations.filter((s) => s.profileLoaded === false);
      assert.equal(parked.length, 1, JSON.stringify(status.stations));
      assert.equal(parked[0].station, "b");
      assert.equal(parked[0].profileVersion, 5, "the status still names the version on disk");
      const list = (await client.request(serviceSubject(Endpoint.profilesList))).json<ProfileListReply>();
      assert.deepEqual(list.profiles.map((p) => [p.station, p.version]), [
        ["a", 3],
        ["b", 5],
        ["c", 7],
      ]);

      const ask = async <T>(endpoint: Endpoint, body: unknown) =>
        (await client.request(serviceSubject(endpoint), JSON.stringify(body))).json<T>();
      const history = await ask<{ inForce: number | null }>(Endpoint.profilesHistory, { station: "b" });
      assert.equal(history.inForce, 5, "the evicted station's version is still the one in force");
      // A change of an evicted station's profile loads it first, then makes the next version.
      const set = await ask<{ profileVersion: number }>(Endpoint.thresholdSet, {
        station: "b",
        threshold: 9,
      });
      assert.equal(set.profileVersion, 6, JSON.stringify(set));
      assert.equal(processor.status().stations.find((s) => s.station === "b")?.profileVersion, 6);

      // A profile that can no longer be loaded answers the frame as a refused profile does at start:
      // a new station makes room by evicting c, then a (the longest idle).
      sendFrame(client, framesSubject("y"), frame, "y-0");
      await results.until((items) => items.some((r) => r.frameId === "y-0"), 60_000);
      assert.equal(processor.status().stations.find((s) => s.station === "a")?.profileLoaded, false);
      await Deno.writeTextFile(join(stateDir, "profiles", "a.safetensors"), "not a profile");
      sendFrame(client, framesSubject("a"), frame, "a-broken");
      const [broken] = await results.until((items) => items.some((r) => r.frameId === "a-broken"), 60_000)
        .then((items) => items.filter((r) => r.frameId === "a-broken"));
      assert.equal(broken.reason, FrameErrorReason.profileInvalid, broken.error);
      assert.doesNotMatch(broken.error ?? "", new RegExp(stateDir), "no state-dir path in a result");
      results.stop();
      await processor.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
