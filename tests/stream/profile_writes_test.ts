/**
 * Profile writes (issue 17, defects 4 and 12): one writer per station, an older version never put
 * back over a newer one, orphan temporary files removed at start, symbolic links skipped with a log
 * line, and refusals that name no absolute state-dir path.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadProfile, saveProfile } from "../../src/adp/profile.ts";
import { ProfileConflictError, ProfileStore } from "../../src/stream/profile_store.ts";
import { StationProfiles } from "../../src/stream/station_profiles.ts";
import { StationTable } from "../../src/stream/stations.ts";
import { needsShared } from "../_shared.ts";
import { bottleProfile, tinyModel } from "./_fixture.ts";

Deno.test({
  name: "ProfileStore.save() writes one station at a time and refuses a version older than one written",
  ...needsShared,
  async fn() {
    await using model = await tinyModel();
    const dir = await Deno.makeTempDir({ prefix: "adp-writes-" });
    try {
      const store = new ProfileStore(dir);
      await store.loadAll();
      const v7 = await bottleProfile(model.clip, 7);
      const v6 = await bottleProfile(model.clip, 6);
      v6.meta.threshold = 0.123;
      // threshold.set holding v6 races enrollment's save of v7: v7 must stay on disk.
      const [seven, six] = await Promise.allSettled([store.save("cam", v7), store.save("cam", v6)]);
      assert.equal(seven.status, "fulfilled");
      assert.equal(six.status, "rejected");
      assert.ok((six as PromiseRejectedResult).reason instanceof ProfileConflictError);
      assert.equal((await loadProfile(store.path("cam"))).meta.version, 7);
      // The same version again (a new threshold) is a normal write.
      v7.meta.threshold = 0.5;
      await store.save("cam", v7);
      assert.equal((await loadProfile(store.path("cam"))).meta.threshold, 0.5);
      assert.equal(store.latestVersion("cam"), 7);
      // A fresh store knows the version on disk after loading.
      const again = new ProfileStore(dir);
      await again.loadAll();
      await assert.rejects(again.save("cam", v6), ProfileConflictError);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "ProfileStore.loadAll() removes orphan temporary files, skips symbolic links with a log line, and refuses without absolute paths",
  ...needsShared,
  async fn() {
    await using model = await tinyModel();
    const dir = await Deno.makeTempDir({ prefix: "adp-writes-" });
    try {
      const profiles = join(dir, "profiles");
      await Deno.mkdir(profiles);
      await saveProfile(join(profiles, "good.safetensors"), await bottleProfile(model.clip, 1));
      await Deno.writeFile(join(profiles, ".0b1c.safetensors.tmp"), new Uint8Array(100));
      await Deno.writeFile(join(profiles, "good.safetensors.remote"), new Uint8Array(100));
      await Deno.writeFile(join(profiles, "broken.safetensors"), new Uint8Array(100));
      const outside = join(dir, "elsewhere.safetensors");
      await saveProfile(outside, await bottleProfile(model.clip, 1));
      await Deno.symlink(outside, join(profiles, "linked.safetensors"));
      const lines: string[] = [];
      const store = new ProfileStore(dir, { log: (l) => lines.push(l) });
      const { loaded, refused } = await store.loadAll();
      assert.deepEqual(loaded.map((p) => p.station), ["good"]);
      assert.deepEqual(refused.map((r) => r.station), ["broken"]);
      assert.ok(!refused[0].error.includes(dir), refused[0].error);
      assert.match(refused[0].error, /profiles\/broken\.safetensors/);
      const left = [...Deno.readDirSync(profiles)].map((e) => e.name).sort();
      // history/: the good profile entered its station's history (the only new entry).
      assert.deepEqual(left, ["broken.safetensors", "good.safetensors", "history", "linked.safetensors"]);
      assert.ok(
        lines.some((l) => /linked\.safetensors is a symbolic link: skipped/.test(l)),
        lines.join("\n"),
      );
      assert.equal(lines.filter((l) => /interrupted write/.test(l)).length, 2);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "an enrollment whose version was taken before threshold changes were written is installed above them",
  ...needsShared,
  async fn() {
    await using model = await tinyModel();
    const dir = await Deno.makeTempDir({ prefix: "adp-writes-" });
    try {
      const store = new ProfileStore(dir);
      await store.loadAll();
      const profiles = new StationProfiles({
        clip: model.clip,
        stations: new StationTable(() => {}),
        store,
        log: () => {},
      });
      await profiles.install("cam", await bottleProfile(model.clip, 1));
      // The enrollment begins: it numbers its profile v2.
      const enrolled = await bottleProfile(model.clip, profiles.nextVersion("cam"));
      // Two threshold changes are written while it runs (v2, v3).
      for (const threshold of [0.4, 0.6]) {
        const change = await bottleProfile(model.clip, profiles.nextVersion("cam"));
        change.meta.threshold = threshold;
        await profiles.install("cam", change);
      }
      // Before, the finished enrollment was refused (v3 written since) and its work lost.
      assert.equal(await profiles.install("cam", enrolled), 4);
      assert.equal(profiles.currentVersion("cam"), 4);
      assert.equal((await loadProfile(store.path("cam"))).meta.version, 4, "disk = in force");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
