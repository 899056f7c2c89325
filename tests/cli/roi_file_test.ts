/**
 * A region of interest offline: `adp roi set --profile FILE` rewrites the file as its next version,
 * and `adp score --profile FILE` honours it — the same scorer, the same scores as in-process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Image } from "imagescript";
import { createScorer, loadProfile, saveProfile } from "../../src/adp/mod.ts";
import { runCli as run } from "../_cli.ts";
import { needsShared } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";
import { bottleProfile, paintedBottle, tinyModel } from "../stream/_fixture.ts";

Deno.test({
  name: "adp roi set --profile rewrites the file as v2 and adp score honours its region",
  ...needsShared,
  async fn() {
    await using dir = await tempDir();
    await using model = await tinyModel();
    const file = join(dir.path, "line-1.safetensors"), image = join(dir.path, "painted.png");
    const plain = await bottleProfile(model.clip);
    await saveProfile(file, plain);
    await Deno.writeFile(image, await paintedBottle());
    assert.equal((await loadProfile(file)).meta.roi, undefined, "a profile without a region loads as before");

    const set = await run([
      "roi",
      "set",
      "--profile",
      file,
      "--ignore",
      "60,60 340,60 340,340 60,340",
      "--json",
    ]);
    assert.equal(set.code, 0, set.err);
    assert.equal(JSON.parse(set.out).profileVersion, 2);
    const saved = await loadProfile(file);
    assert.deepEqual(saved.meta.roi, { ignore: [[[60, 60], [340, 60], [340, 340], [60, 340]]] });
    assert.equal(saved.meta.revision?.kind, "roi");
    const got = await run(["roi", "get", "--profile", file]);
    assert.equal(got.out, "profile v2: 1 ignore polygon");

    const previousCache = Deno.env.get("ADP_CACHE_DIR");
    Deno.env.set("ADP_CACHE_DIR", join(model.root, "cache"));
    let scored;
    try {
      scored = await run([
        "score",
        "--profile",
        file,
        "--images",
        image,
        "--model",
        join(model.root, "tiny"),
        "--json",
      ]);
    } finally {
      if (previousCache === undefined) Deno.env.delete("ADP_CACHE_DIR");
      else Deno.env.set("ADP_CACHE_DIR", previousCache);
    }
    assert.equal(scored.code, 0, scored.err);
    const verdict = JSON.parse(scored.out.trim().split("\n").at(-1)!);
    const bytes = await Deno.readFile(image);
    const [withRoi, withoutRoi] = await Promise.all(
      [saved, plain].map(async (p) => {
        const scorer = createScorer(model.clip, p);
        const [s] = await scorer.score([bytes]);
        await scorer.dispose();
        return s.score;
      }),
    );
    assert.ok(Math.abs(verdict.score - withRoi) < 1e-9, `${verdict.score} vs ${withRoi}`);
    assert.ok(withRoi < withoutRoi, `the ignored defect no longer counts: ${withRoi} < ${withoutRoi}`);

    const cleared = await run(["roi", "clear", "--profile", file]);
    assert.equal(cleared.code, 0, cleared.err);
    assert.match(cleared.out, /the whole frame is inspected \(profile v2 → v3\)/);
    assert.equal((await loadProfile(file)).meta.roi, undefined);

    // A mask image black over the same square scores exactly as the polygon: same rule, same cells and pixels.
    const maskFile = join(dir.path, "mask.png");
    const mask = new Image(900, 900).fill(0xffffffff);
    mask.drawBox(61, 61, 280, 280, 0x000000ff); // 1-based: pixels 60…339
    await Deno.writeFile(maskFile, await mask.encode());
    const masked = await run(["roi", "set", "--profile", file, "--mask", maskFile]);
    assert.equal(masked.code, 0, masked.err);
    assert.match(masked.out, /a 900×900 mask \(profile v3 → v4\)/);
    const scorer = createScorer(model.clip, await loadProfile(file));
    const [byMask] = await scorer.score([bytes]);
    await scorer.dispose();
    assert.equal(byMask.score, withRoi);
  },
});
