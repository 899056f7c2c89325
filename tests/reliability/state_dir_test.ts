/**
 * The state dir cannot take the new profile while an enrollment saves it: the request is still
 * answered, the job fails with the reason on its progress subject, the previous profile stays byte
 * for byte on disk and keeps scoring, and no temporary file is left behind.
 *
 * Tests run as root in CI, where `chmod` stops nothing, so the faults are ones root cannot override:
 * - read-only: while the service runs, its `profiles/` and `jobs/` paths are switched (symlinks) to a
 *   sysfs folder, where no one, root included, can create a file (EACCES; EROFS where /sys is mounted
 *   read-only). The save fails exactly where it opens its temporary file;
 * - full: `adp serve` runs as a child under a file-size limit (RLIMIT_FSIZE via `ulimit -f`, SIGXFSZ
 *   ignored): a write past it fails with EFBIG, for root too, as a write to a full disk fails with
 *   ENOSPC. At 16 KiB the profile's write stops part way; at 0 nothing at all can be written, and
 *   frames are still scored (nothing on the scoring path writes).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadProfile } from "../../src/adp/profile.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import { requestEnrollment } from "../../src/stream/client.ts";
import type { EnrollProgressMessage } from "../../src/stream/messages.ts";
import { publishFrame, ResultTracker, spawnServe } from "../../bench/soak/service.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, fileSha256, reliabilityModel, stateDirWith } from "./_fixture.ts";

/** Enrolls `station` over the bus from two fresh frames and returns every progress message of the job. */
async function enrollOverBus(nc: NatsConnection, station: string): Promise<EnrollProgressMessage[]> {
  const frames = [await bottle(10), await bottle(11)];
  const progress: EnrollProgressMessage[] = [];
  const job = requestEnrollment(nc, station, { shots: 2, steps: 1 }, {
    timeoutMs: 40_000,
    onAccepted: () => {
      publishFrame(nc, station, frames[0], "enroll-a");
      publishFrame(nc, station, frames[1], "enroll-b");
    },
  });
  for await (const p of job) progress.push(p);
  assert.ok(progress.some((p) => p.done), `the job ended: ${JSON.stringify(progress.at(-1))}`);
  return progress;
}

/** A folder in which even root cannot create a file, or undefined when this machine has none. */
async function uncreatableDir(): Promise<string | undefined> {
  for (const dir of ["/sys/kernel", "/sys/fs", "/sys"]) {
    try {
      const f = await Deno.open(join(dir, ".adp-probe"), { write: true, create: true });
      f.close();
      await Deno.remove(join(dir, ".adp-probe")).catch(() => {});
    } catch {
      return dir;
    }
  }
  return undefined;
}

/** Points `link` at `target` in one step (a new symlink renamed over the old one). */
async function repoint(link: string, target: string): Promise<void> {
  await Deno.symlink(target, `${link}.new`);
  await Deno.rename(`${link}.new`, link);
}

Deno.test({
  name: "enrollment whose state dir turns read-only fails at saving with the reason and leaves v1 in force",
  ...needsShared,
  async fn() {
    const locked = await uncreatableDir();
    assert.ok(locked, "this machine has a sysfs folder where files cannot be created");
    const ns = await setup({ jetstream: false });
    await using model = await reliabilityModel();
    // profiles/ and jobs/ are symlinks to the real folders, so that they can be switched at run time.
    const stateDir = await stateDirWith(model.clip, ["press"]);
    await Deno.rename(join(stateDir, "profiles"), join(stateDir, "real-profiles"));
    await Deno.mkdir(join(stateDir, "real-jobs"));
    await Deno.symlink(join(stateDir, "real-profiles"), join(stateDir, "profiles"));
    await Deno.symlink(join(stateDir, "real-jobs"), join(stateDir, "jobs"));
    const profilePath = join(stateDir, "real-profiles", "press.safetensors");
    const before = await fileSha256(profilePath);
    const log: string[] = [];
    try {
      const client = await ns.connect("client");
      const results = new ResultTracker(client, "press");
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: (line) => log.push(line),
      });
      publishFrame(client, "press", await bottle(20), "before");
      assert.equal((await results.waitOne("before")).profileVersion, 1);

      await repoint(join(stateDir, "profiles"), locked);
      await repoint(join(stateDir, "jobs"), locked);
      const progress = await enrollOverBus(client, "press");
      const outcome = progress.find((p) => p.done)!;
      assert.equal(outcome.stage, "failed", JSON.stringify(outcome));
      assert.ok(progress.some((p) => p.stage === "saving"), "the job got as far as saving");
      assert.match(outcome.error!, /Permission denied|Read-only file system/);
      assert.match(outcome.error!, /safetensors\.tmp/, "the error names the file it could not create");
      assert.match(outcome.error!, /profile v1 stays in force/);
      assert.ok(log.some((l) => /job record of press not written/.test(l)), "the job ran without its record");

      publishFrame(client, "press", await bottle(21), "after");
      const after = await results.waitOne("after");
      assert.equal(after.profileVersion, 1);
      assert.equal(typeof after.score, "number", after.error);
      await processor.stop();

      // The folders come back: v1 is on disk as it was, nothing half-written beside it, and a
      // restarted service scores with it.
      await repoint(join(stateDir, "profiles"), join(stateDir, "real-profiles"));
      await repoint(join(stateDir, "jobs"), join(stateDir, "real-jobs"));
      assert.equal(await fileSha256(profilePath), before);
      const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(names(join(stateDir, "real-profiles")), ["history", "press.safetensors"]);
      assert.deepEqual(names(join(stateDir, "real-profiles", "history", "press")), ["v1.safetensors"]);
      const again = await startProcessor(await ns.connect("service-2"), {
        clip: model.clip,
        stateDir,
        log: () => {},
      });
      assert.equal(again.status().stations.find((s) => s.station === "press")?.profileVersion, 1);
      await again.stop();
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "enrollment whose profile write fills the disk part way fails with the reason and keeps v1 in force",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await reliabilityModel();
    const stateDir = await stateDirWith(model.clip, ["press"]);
    const profilePath = join(stateDir, "profiles", "press.safetensors");
    const before = await fileSha256(profilePath);
    // The service's other file (the job record) is under 1 KiB; a profile is larger.
    const limitKiB = 16;
    assert.ok(
      (await Deno.stat(profilePath)).size > 2 * limitKiB * 1024,
      "a profile is larger than the limit",
    );
    try {
      const client = await ns.connect("client");
      const results = new ResultTracker(client, "press");
      await using serve = await spawnServe({ model, stateDir, natsUrl: ns.url, fileSizeLimitKiB: limitKiB });
      publishFrame(client, "press", await bottle(20), "before");
      const first = await results.waitOne("before");
      assert.equal(first.profileVersion, 1);
      assert.equal(typeof first.score, "number", first.error);

      const progress = await enrollOverBus(client, "press");
      const outcome = progress.find((p) => p.done)!;
      assert.equal(outcome.stage, "failed", JSON.stringify(outcome));
      assert.ok(progress.some((p) => p.stage === "saving"), "the job got as far as saving");
      assert.match(outcome.error!, /File too large \(os error 27\)/);
      assert.match(outcome.error!, /profile v1 stays in force/);

      publishFrame(client, "press", await bottle(21), "after");
      const after = await results.waitOne("after");
      assert.equal(after.profileVersion, 1);
      assert.equal(typeof after.score, "number", after.error);
      assert.equal(await serve.stop(), 0, serve.stderr.join("\n"));
      assert.equal(await fileSha256(profilePath), before);
      assert.equal((await loadProfile(profilePath)).meta.version, 1);
      // The half-written temporary files were removed (the history could not take v1 under this limit either).
      const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(names(join(stateDir, "profiles")), ["history", "press.safetensors"]);
      assert.deepEqual(names(join(stateDir, "profiles", "history", "press")), []);
      assert.ok(serve.stderr.some((l) => /enrollment job .* of press failed: File too large/.test(l)));
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a service that can write nothing still scores: its helper graphs open from memory, not from TMPDIR",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await reliabilityModel();
    const stateDir = await stateDirWith(model.clip, ["press"]);
    try {
      const client = await ns.connect("client");
      const results = new ResultTracker(client, "press");
      // Not one byte can be written by the service process.
      await using serve = await spawnServe({ model, stateDir, natsUrl: ns.url, fileSizeLimitKiB: 0 });
      publishFrame(client, "press", await bottle(20), "full");
      const full = await results.waitOne("full");
      assert.equal(typeof full.score, "number", full.error);
      assert.equal(await serve.stop(), 0, serve.stderr.join("\n"));
      results.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
