/**
 * Profile history and rollback (issue 12): every saved version kept, a rollback hot-swapped with
 * the earlier version's verdicts exactly, version numbers never reused, stale writes still refused,
 * the history kept across a restart and shared by instances of a queue group with JetStream.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli as run } from "../_cli.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import { decodeResult, type ResultMessage } from "../../src/stream/messages.ts";
import { ProfileConflictError, ProfileStore } from "../../src/stream/profile_store.ts";
import type { ProfileHistoryEntry } from "../../src/stream/profile_history.ts";
import { framesSubject } from "../../src/stream/subjects.ts";
import { gatherStatus } from "../../src/cli/status.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, bottleProfile, Gather, sendFrame, sleep, stateDirWith, tinyModel } from "./_fixture.ts";

const quiet = () => {};

Deno.test({
  name:
    "a rollback restores the earlier version's verdicts exactly; numbers are never reused; history survives a restart",
  ...needsShared,
  // long: one scenario on one service, each step building on the state the last one left
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { cam: { threshold: 1e6 } });
    const nats = ["--nats", ns.url];
    try {
      const client = await ns.connect("client");
      let processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      const results = new Gather<ResultMessage>(client, "adp.results.cam", (m) => decodeResult(m.data));
      await client.flush();
      const score = async (tag: string) => {
        results.items.length = 0;
        for (let i = 0; i < 3; i++) {
          sendFrame(client, framesSubject("cam"), await bottle(30 + i), `${tag}${i}`);
        }
        const got = await results.count(3);
        return [...got].sort((a, b) => a.frameId.localeCompare(b.frameId));
      };
      const v1 = await score("a");
      assert.ok(v1.every((r) => r.profileVersion === 1 && r.anomalous === false && r.score !== null));

      // A threshold change is a new version; the history keeps v1 with its threshold.
      const set = await run(["threshold", "set", ...nats, "--station", "cam", "--threshold=-1e6"]);
      assert.equal(set.code, 0, set.err);
      const v2 = await score("b");
      assert.ok(v2.every((r) => r.profileVersion === 2 && r.anomalous === true));

      const back = await run([
        "profiles",
        "rollback",
        ...nats,
        "--station",
        "cam",
        "--version",
        "1",
        "--by",
        "ops",
      ]);
      assert.equal(back.code, 0, back.err);
      assert.match(back.out, /cam: profile v1 in force \(was v2\)/);
      const again = await score("r");
      assert.deepEqual(
        again.map((r) => [r.score, r.threshold, r.anomalous, r.profileVersion]),
        v1.map((r) => [r.score, r.threshold, r.anomalous, 1]),
        "the same frames score exactly as under v1",
      );

      const history = async () => {
        const out = await run(["profiles", "history", ...nats, "--station", "cam", "--json"]);
        assert.equal(out.code, 0, out.err);
        return JSON.parse(out.out) as ProfileHistoryEntry[];
      };
      const h = await history();
      assert.deepEqual(h.map((e) => [e.version, e.inForce]), [[2, false], [1, true]]);
      assert.deepEqual(
        [h[0].revision?.kind, h[0].revision?.fromVersion, h[0].calibration.threshold],
        ["threshold", 1, -1e6],
      );
      assert.deepEqual(
        h[1].rollbacks.map((r) => [r.fromVersion, r.by]),
        [[2, "ops"]],
        "the rollback is recorded: who, from which version",
      );
      const table = await run(["profiles", "history", ...nats, "--station", "cam"]);
      assert.match(table.out, /^VERSION\s+IN FORCE/);
      assert.match(table.out, /v2\s+\S+\s+threshold from v1/);

      // The next change gets a number above every one made: v3, not a second v2.
      assert.equal(
        (await run(["threshold", "set", ...nats, "--station", "cam", "--threshold", "5"])).code,
        0,
      );
      assert.ok((await score("c")).every((r) => r.profileVersion === 3));

      await processor.stop();
      processor = await startProcessor(await ns.connect("service-2"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      const after = await history();
      assert.deepEqual(after.map((e) => [e.version, e.inForce]), [[3, true], [2, false], [1, false]]);
      assert.equal(after[2].rollbacks.length, 1);
      const missing = await run(["profiles", "rollback", ...nats, "--station", "cam", "--version", "9"]);
      assert.equal(missing.code, 2);
      assert.match(
        missing.err,
        /^adp profiles rollback: Station cam has no version 9 in its history \(kept: v3, v2, v1\)$/,
      );
      await processor.stop();
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "after a rollback a stale racing write is still refused, and the history is bounded",
  ...needsShared,
  async fn() {
    await using model = await tinyModel();
    const dir = await Deno.makeTempDir({ prefix: "adp-history-" });
    try {
      const store = new ProfileStore(dir, { historyLimit: 3 });
      await store.loadAll();
      await store.save("cam", await bottleProfile(model.clip, 1));
      await store.save("cam", await bottleProfile(model.clip, 2));
      await store.rollback("cam", await store.historyProfile("cam", 1), { by: "ops" });
      // A writer still holding v2 (read before the rollback) races: refused, v1 stays in force.
      await assert.rejects(store.save("cam", await bottleProfile(model.clip, 2)), ProfileConflictError);
      await assert.rejects(store.save("cam", await bottleProfile(model.clip, 1)), ProfileConflictError);
      assert.deepEqual((await store.history("cam")).map((e) => [e.version, e.inForce]), [[2, false], [
        1,
        true,
      ]]);
      for (const v of [3, 4, 5]) await store.save("cam", await bottleProfile(model.clip, v));
      const kept = await store.history("cam");
      assert.deepEqual(kept.map((e) => e.version), [5, 4, 3], "oldest pruned beyond --profile-history 3");
      assert.equal(store.latestVersion("cam"), 5);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "with JetStream the history is shared: a second instance takes a rollback to a lower version, a restarted one too",
  ...needsShared,
  async fn() {
    const ns = await setup();
    await using model = await tinyModel();
    const dirA = await stateDirWith(model.clip, { shared: {} });
    const dirB = await Deno.makeTempDir({ prefix: "adp-state-" });
    const nats = ["--nats", ns.url];
    try {
      const client = await ns.connect("client");
      const opts = { clip: model.clip, log: quiet, jetstream: true };
      let a = await startProcessor(await ns.connect("a"), { ...opts, stateDir: dirA });
      // v2 from A, shared through the bucket with its history.
      assert.equal(
        (await run(["threshold", "set", ...nats, "--station", "shared", "--threshold", "3"])).code,
        0,
      );
      const b = await startProcessor(await ns.connect("b"), { ...opts, stateDir: dirB });
      const versions = async (station: string) =>
        (await gatherStatus(client, 300)).map((s) =>
          s.stations.find((x) => x.station === station)?.profileVersion
        )
          .sort();
      const converge = async (want: unknown[], station = "shared") => {
        for (let i = 0; i < 50; i++) {
          if (JSON.stringify(await versions(station)) === JSON.stringify(want)) return;
          await sleep(50);
        }
        assert.fail(
          `instances did not converge on ${JSON.stringify(want)}: ${JSON.stringify(await versions(station))}`,
        );
      };
      await converge([2, 2]);

      // A stopped instance keeps v2 on its disk while the group rolls back to v1.
      await a.stop();
      const back = await run(["profiles", "rollback", ...nats, "--station", "shared", "--version", "1"]);
      assert.equal(back.code, 0, back.err);
      await converge([1]);
      a = await startProcessor(await ns.connect("a-2"), { ...opts, stateDir: dirA });
      await converge([1, 1]);
      assert.equal(a.status().stations.find((s) => s.station === "shared")?.profileVersion, 1);

      // B never saved v1 itself, yet lists it: the history travels through the bucket.
      await a.stop();
      const listed = await run(["profiles", "history", ...nats, "--station", "shared", "--json"]);
      assert.equal(listed.code, 0, listed.err);
      const h = JSON.parse(listed.out) as ProfileHistoryEntry[];
      assert.deepEqual(h.map((e) => [e.version, e.inForce]), [[2, false], [1, true]]);
      assert.equal(h[1].rollbacks[0].fromVersion, 2);

      // With both running, a rollback answered by one is taken by the other (lower version accepted).
      a = await startProcessor(await ns.connect("a-3"), { ...opts, stateDir: dirA });
      assert.equal(
        (await run(["profiles", "rollback", ...nats, "--station", "shared", "--version", "2"])).code,
        0,
      );
      await converge([2, 2]);
      assert.equal(
        (await run(["profiles", "rollback", ...nats, "--station", "shared", "--version", "1"])).code,
        0,
      );
      await converge([1, 1]);

      // An import's chunks wait in the bucket, so whichever instance gets the last one assembles it.
      const file = join(dirB, "exported.safetensors");
      assert.equal(
        (await run(["profiles", "export", ...nats, "--station", "shared", "--out", file])).code,
        0,
      );
      const imported = await run(["profiles", "import", ...nats, "--station", "copy", "--file", file]);
      assert.equal(imported.code, 0, imported.err);
      await converge([1, 1], "copy");
      await a.stop();
      await b.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(dirA, { recursive: true });
      await Deno.remove(dirB, { recursive: true });
    }
  },
});
