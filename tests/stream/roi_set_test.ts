/**
 * `adp.svc.roi.set` through a real nats-server and service, driven by `adp roi set|get|clear`: a
 * defect painted in a corner flags the frame until that corner is ignored; the new profile version
 * is saved with its revision, hot-swapped (later results carry it) and scores exactly as the
 * scorer with that profile scores in-process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createScorer, loadProfile } from "../../src/adp/mod.ts";
import {
  decodeResult,
  framesSubject,
  type ResultMessage,
  resultsSubject,
  startProcessor,
} from "../../src/stream/mod.ts";
import { runCli as run } from "../_cli.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { Gather, paintedBottle, sendFrame, stateDirWith, tinyModel } from "./_fixture.ts";

Deno.test({
  name:
    "adp roi set ignores a corner on the service: the defect there no longer flags, as a new profile version",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { "line-1": {} });
    const file = join(stateDir, "profiles", "line-1.safetensors");
    try {
      const client = await ns.connect("client");
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: () => {},
      });
      try {
        const results = new Gather<ResultMessage>(
          client,
          resultsSubject("line-1"),
          (m) => decodeResult(m.data),
        );
        await client.flush();
        const frame = await paintedBottle();
        const scoreOnce = async (id: string) => {
          sendFrame(client, framesSubject("line-1"), frame, id);
          return (await results.until((items) => items.some((r) => r.frameId === id))).find((r) =>
            r.frameId === id
          )!;
        };
        const nats = ["--nats", ns.url];
        const before = await scoreOnce("before");
        assert.equal(before.error, undefined, before.error);

        // An ignore polygon that covers the square with a margin.
        const ignore = "60,60 340,60 340,340 60,340";
        const set = await run([
          "roi",
          "set",
          ...nats,
          "--station",
          "line-1",
          "--ignore",
          ignore,
          "--by",
          "ana",
          "--json",
        ]);
        assert.equal(set.code, 0, set.err);
        const reply = JSON.parse(set.out);
        assert.deepEqual(reply, {
          station: "line-1",
          roi: { ignore: [[[60, 60], [340, 60], [340, 340], [60, 340]]] },
          profileVersion: 2,
          previousVersion: 1,
        });
        const saved = await loadProfile(file);
        assert.deepEqual(saved.meta.roi, reply.roi);
        assert.equal(saved.meta.revision?.kind, "roi");
        assert.equal(saved.meta.revision?.by, "ana");
        assert.equal(saved.meta.revision?.fromVersion, 1);

        const after = await scoreOnce("after");
        assert.equal(after.profileVersion, 2, "hot-swapped: later results carry the new version");
        assert.ok(after.score! < before.score!, `${after.score} < ${before.score}`);
        const inProcess = createScorer(model.clip, saved);
        const [expected] = await inProcess.score([frame]);
        await inProcess.dispose();
        assert.ok(Math.abs(after.score! - expected.score) < 1e-5, `${after.score} vs ${expected.score}`);

        // With the threshold between the two scores, the defect flags the frame only while not ignored.
        const midway = (before.score! + after.score!) / 2;
        assert.equal((await run(["roi", "clear", ...nats, "--station", "line-1"])).code, 0);
        await run(["threshold", "set", ...nats, "--station", "line-1", "--threshold", String(midway)]);
        const cleared = await scoreOnce("cleared");
        assert.equal(cleared.profileVersion, 4, "v3 cleared the region, v4 the threshold");
        assert.ok(cleared.anomalous, "the whole frame again: the defect flags it");
        assert.equal((await run(["roi", "set", ...nats, "--station", "line-1", "--ignore", ignore])).code, 0);
        const ignored = await scoreOnce("ignored");
        assert.equal(ignored.profileVersion, 5);
        assert.equal(ignored.anomalous, false, `${ignored.score} < ${midway}`);

        const got = await run(["roi", "get", ...nats, "--station", "line-1"]);
        assert.equal(got.out, "line-1 v5: 1 ignore polygon");

        const unknown = await run(["roi", "set", ...nats, "--station", "nowhere", "--ignore", ignore]);
        assert.equal(unknown.code, 2);
        assert.match(unknown.err, /^adp roi set: Station nowhere has no profile$/);
        const bad = await run(["roi", "set", ...nats, "--station", "line-1", "--ignore", "1,2 3,4"]);
        assert.equal(bad.code, 2);
        assert.match(bad.err, /at least 3 points/);
        results.stop();
      } finally {
        await processor.stop();
      }
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
