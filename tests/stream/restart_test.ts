/**
 * Restarting the service: profiles reload from the state dir and scoring resumes; a corrupt or
 * truncated profile is refused with its reason while the other stations run; a job the previous
 * process did not finish is reported as failed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startProcessor } from "../../src/stream/processor.ts";
import {
  decodeEnrollProgress,
  decodeResult,
  type EnrollProgressMessage,
  type ResultMessage,
} from "../../src/stream/messages.ts";
import { enrollProgressSubject, framesSubject, RESULTS_WILDCARD } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, enrollAndFeed, Gather, sendFrame, stateDirWith, tinyModel } from "./_fixture.ts";

const quiet = () => {};

Deno.test({
  name: "startProcessor() after a restart reloads the enrolled profiles and keeps scoring",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await Deno.makeTempDir();
    try {
      const client = await ns.connect("client");
      const results = new Gather<ResultMessage>(client, RESULTS_WILDCARD, (m) => decodeResult(m.data));
      await client.flush();

      const first = await startProcessor(await ns.connect("first"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      const outcome = await enrollAndFeed(client, "press", { shots: 2, steps: 1 }, async () => {
        sendFrame(client, framesSubject("press"), await bottle(0), "e0");
        sendFrame(client, framesSubject("press"), await bottle(1), "e1");
      });
      assert.equal(outcome.profileVersion, 1, outcome.error);
      await first.stop();
      assert.equal(await first.closed, undefined);

      const second = await startProcessor(await ns.connect("second"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      const press = second.status().stations.find((s) => s.station === "press");
      assert.equal(press?.profileVersion, 1);
      sendFrame(client, framesSubject("press"), await bottle(5), "after-restart");
      const r = (await results.until((x) => x.some((y) => y.frameId === "after-restart"))).at(-1)!;
      assert.equal(r.profileVersion, 1);
      assert.equal(typeof r.score, "number");
      // Enrolling again continues the version sequence.
      const v2 = await enrollAndFeed(client, "press", { shots: 1, steps: 1 }, async () => {
        sendFrame(client, framesSubject("press"), await bottle(2), "e2");
      });
      assert.equal(v2.profileVersion, 2, v2.error);
      await second.stop();
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "startProcessor() refuses a corrupt or truncated profile with its reason and runs the other stations",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { healthy: {}, cut: {} });
    try {
      const cutPath = join(stateDir, "profiles", "cut.safetensors");
      const bytes = await Deno.readFile(cutPath);
      await Deno.writeFile(cutPath, bytes.slice(0, Math.floor(bytes.length / 2)));
      await Deno.writeFile(
        join(stateDir, "profiles", "garbage.safetensors"),
        new TextEncoder().encode("not a profile"),
      );
      // A file whose name is no station id is ignored rather than trusted as one.
      await Deno.writeFile(join(stateDir, "profiles", "..hidden.safetensors"), bytes);
      const client = await ns.connect("client");
      const results = new Gather<ResultMessage>(client, RESULTS_WILDCARD, (m) => decodeResult(m.data));
      await client.flush();
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      const status = Object.fromEntries(processor.status().stations.map((s) => [s.station, s]));
      assert.deepEqual(Object.keys(status).sort(), ["cut", "garbage", "healthy"]);
      assert.equal(status.healthy.profileVersion, 1);
      assert.equal(status.cut.profileVersion, null);
      assert.match(status.cut.profileError!, /cut\.safetensors/);
      assert.match(status.garbage.profileError!, /garbage\.safetensors/);
      for (const station of ["healthy", "cut", "garbage"]) {
        sendFrame(client, framesSubject(station), await bottle(6), `${station}-1`);
      }
      await results.count(3);
      const by = Object.fromEntries(results.items.map((r) => [r.station, r]));
      assert.equal(typeof by.healthy.score, "number");
      for (const station of ["cut", "garbage"]) {
        assert.equal(by[station].reason, "profile-invalid");
        assert.match(by[station].error!, /^Profile refused: Profile .*safetensors/);
      }
      const listed = await client.request("adp.svc.profiles.list", "");
      const list = listed.json<
        { profiles: { station: string }[]; refused: { station: string; error: string }[] }
      >();
      assert.deepEqual(list.profiles.map((p) => p.station), ["healthy"]);
      assert.deepEqual(list.refused.map((p) => p.station).sort(), ["cut", "garbage"]);
      await processor.stop();
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "startProcessor() reports a job interrupted by the previous process as failed, keeping the profile",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { oven: {} });
    try {
      await Deno.mkdir(join(stateDir, "jobs"));
      await Deno.writeTextFile(
        join(stateDir, "jobs", "oven.json"),
        JSON.stringify({
          jobId: "job-42",
          station: "oven",
          instance: "old",
          startedAt: "2024-01-01T00:00:00Z",
        }),
      );
      const client = await ns.connect("client");
      const progress = new Gather<EnrollProgressMessage>(
        client,
        enrollProgressSubject("oven"),
        (m) => decodeEnrollProgress(m.data),
      );
      await client.flush();
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      const [report] = await progress.count(1);
      assert.equal(report.jobId, "job-42");
      assert.equal(report.stage, "failed");
      assert.equal(report.done, true);
      assert.match(report.error!, /interrupted.*previous profile stays in force/);
      assert.equal(processor.status().stations[0].profileVersion, 1);
      assert.deepEqual([...Deno.readDirSync(join(stateDir, "jobs"))], []);
      await processor.stop();
      progress.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "startProcessor() resumes scoring after nats-server restarts mid-stream",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { line: {} });
    try {
      const svc = await ns.connect("service");
      const processor = await startProcessor(svc, { clip: model.clip, stateDir, log: quiet });
      const client = await ns.connect("client");
      const results = new Gather<ResultMessage>(client, "adp.results.line", (m) => decodeResult(m.data));
      await client.flush();
      sendFrame(client, framesSubject("line"), await bottle(1), "before");
      await results.count(1);
      await ns.restart();
      // Both connections find the server again and the service resubscribes by itself.
      const deadline = Date.now() + 15_000;
      let i = 0;
      while (!results.items.some((r) => r.frameId.startsWith("after")) && Date.now() < deadline) {
        if (!client.isClosed()) sendFrame(client, framesSubject("line"), await bottle(2), `after-${i++}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const after = results.items.find((r) => r.frameId.startsWith("after"));
      assert.ok(after, "a frame sent after the restart is answered");
      assert.equal(typeof after.score, "number");
      await processor.stop();
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
