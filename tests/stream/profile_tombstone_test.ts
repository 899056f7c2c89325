/**
 * Issue 17, item 5, with `--jetstream`: a profile deleted while another instance is down stays
 * deleted when that instance starts again with its local copy (a tombstone in the shared bucket
 * says which version was deleted), and a profile only on an instance's disk is shared at its start.
 */
import assert from "node:assert/strict";
import { Objm } from "@nats-io/obj";
import { startProcessor } from "../../src/stream/processor.ts";
import { JetStreamName } from "../../src/stream/subjects.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { stateDirWith, tinyModel } from "./_fixture.ts";

Deno.test({
  name: "a profile deleted in the group while an instance is down does not come back at its start",
  ...needsShared,
  async fn() {
    const ns = await setup();
    await using model = await tinyModel();
    // Both instances hold v3 of the station on disk; the bucket is empty.
    const dirs = await Promise.all([0, 1].map(() => stateDirWith(model.clip, { line: { version: 3 } })));
    try {
      const client = await ns.connect("client");
      const opts = { clip: model.clip, log: () => {}, jetstream: true };
      const a = await startProcessor(await ns.connect("a"), { ...opts, stateDir: dirs[0] });
      const bucket = await new Objm(client).open(JetStreamName.profileBucket);
      const shared = await bucket.info("line.safetensors");
      assert.ok(shared && !shared.deleted, "the profile only on disk was shared at start");

      const del = await client.request("adp.svc.profiles.delete", JSON.stringify({ station: "line" }));
      assert.deepEqual(del.json(), { station: "line", deleted: true, version: 3 });
      await a.stop();

      // The instance that was down starts with its local v3.
      const b = await startProcessor(await ns.connect("b"), { ...opts, stateDir: dirs[1] });
      const line = b.status().stations.find((s) => s.station === "line");
      assert.equal(line?.profileVersion ?? null, null, "the deleted profile came back");
      await assert.rejects(Deno.stat(`${dirs[1]}/profiles/line.safetensors`), Deno.errors.NotFound);
      await b.stop();
    } finally {
      await cleanup(ns);
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  },
});
