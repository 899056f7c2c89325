/**
 * Export and import of profile files in chunks, a corrupt import refused with nothing changed,
 * enrollment cancel freeing the station (and its JetStream lock) at once, `adp enroll` giving up
 * honestly, and frames of a station enrolling its first profile dropped as `enrolling`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli as run } from "../_cli.ts";
import { loadProfile, saveProfile } from "../../src/adp/profile.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import {
  decodeEnrollReply,
  decodeResult,
  type EnrollProgressMessage,
  type ResultMessage,
} from "../../src/stream/messages.ts";
import type { ProfileHistoryEntry } from "../../src/stream/profile_history.ts";
import { requestEnrollment } from "../../src/stream/client.ts";
import { enrollSubject, framesSubject } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, bottleProfile, Gather, sendFrame, stateDirWith, tinyModel } from "./_fixture.ts";

const quiet = () => {};

Deno.test({
  name:
    "adp profiles export and import move a profile in chunks; a corrupt file is refused and nothing changes",
  ...needsShared,
  // long: one scenario on one service, each step building on the state the last one left
  async fn() {
    const ns = await setup({ jetstream: false, maxPayload: 1024 * 1024 });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { dst: {} });
    // Larger than the server's max_payload (1 MiB): the patch memory repeated 32 times.
    const big = await bottleProfile(model.clip, 1);
    const rows = big.meta.patch.count * big.meta.patch.dim;
    const memory = new Float32Array(rows * 32);
    for (let k = 0; k < 32; k++) memory.set(big.memory, k * rows);
    Object.assign(big, { memory });
    Object.assign(big.meta, { threshold: 2.5, station: "src" });
    big.meta.patch.count *= 32;
    await saveProfile(join(stateDir, "profiles", "src.safetensors"), big);
    const out = await Deno.makeTempDir({ prefix: "adp-export-" });
    const nats = ["--nats", ns.url];
    try {
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: quiet,
      });
      const file = join(out, "src.safetensors");
      const exported = await run(["profiles", "export", ...nats, "--station", "src", "--out", file]);
      assert.equal(exported.code, 0, exported.err);
      const bytes = await Deno.readFile(file);
      assert.deepEqual(bytes, await Deno.readFile(join(stateDir, "profiles", "src.safetensors")));
      assert.ok(bytes.length > 1024 * 1024, `more than max_payload (${bytes.length} bytes)`);

      // An upload a client abandoned two hours ago is swept by the next import.
      const stale = join(stateDir, "imports", "abandoned");
      await Deno.mkdir(stale, { recursive: true });
      await Deno.writeFile(join(stale, "000000000000"), new Uint8Array(10));
      await Deno.utime(stale, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));
      const imported = await run([
        "profiles",
        "import",
        ...nats,
        "--station",
        "dst",
        "--file",
        file,
        "--by",
        "qa",
      ]);
      assert.equal(imported.code, 0, imported.err);
      assert.match(imported.out, /dst: .* imported, profile v2 in force/);
      const inForce = await loadProfile(join(stateDir, "profiles", "dst.safetensors"));
      assert.deepEqual(
        [inForce.meta.version, inForce.meta.threshold, inForce.meta.station, inForce.meta.revision?.kind],
        [2, 2.5, "dst", "import"],
      );

      // Truncated: refused with the reason, the profile in force and the history unchanged.
      const broken = join(out, "broken.safetensors");
      await Deno.writeFile(broken, bytes.subarray(0, bytes.length - 1000));
      const refused = await run(["profiles", "import", ...nats, "--station", "dst", "--file", broken]);
      assert.equal(refused.code, 2);
      assert.match(refused.err, /^adp profiles import: Import of dst refused, nothing changed: .*the file/);
      assert.equal(refused.err.split("\n").length, 1);
      assert.deepEqual(
        await Deno.readFile(join(stateDir, "profiles", "dst.safetensors")),
        await (async () => {
          const again = await run([
            "profiles",
            "export",
            ...nats,
            "--station",
            "dst",
            "--out",
            join(out, "dst"),
          ]);
          assert.equal(again.code, 0, again.err);
          return await Deno.readFile(join(out, "dst"));
        })(),
      );
      const history = await run(["profiles", "history", ...nats, "--station", "dst", "--json"]);
      const entries = JSON.parse(history.out) as ProfileHistoryEntry[];
      assert.deepEqual(entries.map((e) => [e.version, e.revision?.kind ?? null, e.inForce]), [
        [2, "import", true],
        [1, null, false],
      ]);
      assert.equal(entries[0].revision?.by, "qa");
      const noImports = [...Deno.readDirSync(join(stateDir, "imports"))];
      assert.deepEqual(noImports, [], "no upload left behind, the abandoned one swept");
      await processor.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "enroll cancel frees the station and its lock at once; frames of a first enrollment are dropped enrolling",
  ...needsShared,
  // long: one scenario on one service, each step building on the state the last one left
  async fn() {
    const ns = await setup();
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { taught: { threshold: -1e6 } });
    const otherDir = await Deno.makeTempDir({ prefix: "adp-state-" });
    const nats = ["--nats", ns.url];
    const out = await Deno.makeTempDir({ prefix: "adp-heatmap-" });
    try {
      const client = await ns.connect("client");
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: quiet,
        jetstream: true,
      });
      const results = new Gather<ResultMessage>(client, "adp.results.*", (m) => decodeResult(m.data));
      const anomalies = new Gather<{ frameId: string }>(client, "adp.anomalies.taught");
      await client.flush();
      let accepted!: () => void;
      const isAccepted = new Promise<void>((r) => accepted = r);
      const outcome = (async () => {
        let last: EnrollProgressMessage | undefined;
        const job = requestEnrollment(client, "fresh", { shots: 8, steps: 1 }, {
          onAccepted: () => accepted(),
        });
        for await (const p of job) last = p;
        return last!;
      })();
      await isAccepted;
      // Collecting its first profile: a frame is taken as a shot, and answered "enrolling".
      sendFrame(client, framesSubject("fresh"), await bottle(0), "during");
      const during = (await results.until((r) => r.some((x) => x.frameId === "during")))
        .find((x) => x.frameId === "during")!;
      assert.equal(during.reason, "enrolling", during.error);

      // A second instance hears the cancel too; the one running the job answers first.
      const other = await startProcessor(await ns.connect("other"), {
        clip: model.clip,
        stateDir: otherDir,
        log: quiet,
        jetstream: true,
      });
      // Frames split between the instances are all answered "enrolling": the other one reads the lock.
      for (let i = 0; i < 4; i++) {
        sendFrame(client, framesSubject("fresh"), await bottle(1 + i), `split-${i}`);
      }
      const split = (await results.until((r) => r.filter((x) => x.frameId.startsWith("split-")).length === 4))
        .filter((x) => x.frameId.startsWith("split-"));
      assert.deepEqual(split.map((r) => r.reason), Array(4).fill("enrolling"));
      const cancelled = await run(["enroll", ...nats, "--station", "fresh", "--cancel"]);
      assert.equal(cancelled.code, 0, cancelled.err);
      assert.match(cancelled.out, /station fresh: enrollment job \S+ cancelled, no profile in force/);
      const last = await outcome;
      assert.equal(last.stage, "cancelled");
      assert.match(last.error!, /cancelled on request/);
      await other.stop();
      // Free at once, here and in the group-wide lock: a new request is accepted immediately.
      const reply = decodeEnrollReply((await client.request(enrollSubject("fresh"), '{"shots":2}')).data);
      assert.equal(reply.ok, true, JSON.stringify(reply));
      assert.equal((await run(["enroll", ...nats, "--station", "fresh", "--cancel"])).code, 0);
      const noJob = await run(["enroll", ...nats, "--station", "fresh", "--cancel"]);
      assert.equal(noJob.code, 2);
      assert.match(noJob.err, /^adp enroll: Station fresh has no enrollment running or collecting$/);

      // adp enroll that sees no frames gives up honestly, and leaves the station free.
      const gaveUp = await run(["enroll", ...nats, "--station", "fresh", "--shots", "2", "--timeout-s", "1"]);
      assert.equal(gaveUp.code, 8);
      assert.doesNotMatch(gaveUp.err, /may still be running/);
      assert.match(
        gaveUp.err,
        /No outcome of job \S+ within 1 s \(last: collecting, .*\): the job was cancelled/,
      );
      const retry = decodeEnrollReply((await client.request(enrollSubject("fresh"), '{"shots":2}')).data);
      assert.equal(retry.ok, true, JSON.stringify(retry));
      assert.equal((await run(["enroll", ...nats, "--station", "fresh", "--cancel"])).code, 0);

      // A station with a profile in force keeps being scored while it enrolls.
      const job = decodeEnrollReply((await client.request(enrollSubject("taught"), '{"shots":4}')).data);
      assert.equal(job.ok, true);
      sendFrame(client, framesSubject("taught"), await bottle(1), "scored");
      const scored = (await results.until((r) => r.some((x) => x.frameId === "scored")))
        .find((x) => x.frameId === "scored")!;
      assert.equal(scored.profileVersion, 1);
      assert.notEqual(scored.score, null);
      assert.equal((await run(["enroll", ...nats, "--station", "taught", "--cancel"])).code, 0);
      // Its heat map, from the bucket.
      await anomalies.until((a) => a.some((x) => x.frameId === "scored"));
      const png = join(out, "scored.png");
      const got = await run([
        "heatmap",
        "get",
        ...nats,
        "--station",
        "taught",
        "--frame",
        "scored",
        "--out",
        png,
      ]);
      assert.equal(got.code, 0, got.err);
      assert.deepEqual([...(await Deno.readFile(png)).subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
      const none = await run([
        "heatmap",
        "get",
        ...nats,
        "--station",
        "taught",
        "--frame",
        "nope",
        "--out",
        png,
      ]);
      assert.equal(none.code, 2);
      anomalies.stop();
      assert.ok(processor.status().stations.find((s) => s.station === "fresh")!.dropped.enrolling! >= 1);
      await processor.stop();
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
      await Deno.remove(out, { recursive: true });
      await Deno.remove(otherDir, { recursive: true });
    }
  },
});
