/**
 * Hostile frames made from real ones (bit flips, truncations, chunk and segment lengths, header
 * dimensions, JPEG markers, zlib damage, splices of PNG and JPEG frames) through the decoder path
 * with the service's limits, and through the running service: no crash, a clear error or an image
 * for every frame, bounded memory, and good frames still decode after thousands of bad ones. The
 * soak (`deno task soak`) runs the same with 10,000 and more.
 */
import assert from "node:assert/strict";
import { decodeImage } from "../../src/image/decode.ts";
import { ImageError } from "../../src/errors.ts";
import { Random } from "../../src/random.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import { mib, Outcome, runDecoderFuzz } from "../../bench/soak/fuzz.ts";
import { loadCorpus, mutate, type SeedFrame } from "../../bench/soak/mutate.ts";
import { runServiceFuzz } from "../../bench/soak/service_fuzz.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { reliabilityModel, stateDirWith } from "./_fixture.ts";

let corpus: Promise<SeedFrame[]> | undefined;
function seeds(): Promise<SeedFrame[]> {
  return corpus ??= loadCorpus({ shared: sharedPath(), size: "small" });
}

Deno.test({
  name:
    "decoder path answers 500 mutated real frames with an image or a clear error, no crash, bounded memory",
  ...needsShared,
  async fn() {
    const report = await runDecoderFuzz({ corpus: await seeds(), count: 500, seed: 11, sentinelEvery: 25 });
    console.log(
      `decoder fuzz: ${report.tried} frames, ${
        JSON.stringify(report.byReason)
      }, ${report.crashes.length} crashes, ` +
        `peak RSS ${mib(report.peakRssBytes)} (start ${mib(report.startRssBytes)}), slowest ${
          Math.round(report.slowestMs)
        } ms`,
    );
    assert.deepEqual(report.crashes, []);
    assert.equal(report.unclearErrors, 0);
    assert.equal(report.tried, 500);
    assert.equal(Object.values(report.byReason).reduce((a, b) => a + b, 0), 500, "one outcome per frame");
    for (const reason of Object.keys(report.byReason)) {
      assert.ok((Object.values(Outcome) as string[]).includes(reason), `${reason} is a service reason`);
    }
    // The mutations reach both sides: some frames still decode, most are refused, some by their size.
    assert.ok(report.byReason[Outcome.decoded] > 10, "some mutants still decode");
    assert.ok(report.byReason[Outcome.undecodable] > 250, "most are refused as undecodable");
    assert.ok(report.byReason[Outcome.tooLarge] > 0, "header rewrites are refused by size");
    assert.ok(report.sentinels >= 20, "good frames were decoded between the mutants");
    // Bounded: one frame can cost at most what the 50 M pixel limit allows, never an accumulation. (The
    // process's RSS is shared with test files running beside this one, hence the margin; the soak
    // measures it alone.)
    assert.ok(
      report.peakRssBytes - report.startRssBytes < 1536 * 1048576,
      `peak RSS ${mib(report.peakRssBytes)}`,
    );
  },
});

Deno.test({
  name: "decodeImage() still decodes good JPEGs after hundreds of JPEGs that trap the decoder",
  ...needsShared,
  async fn() {
    const all = await seeds();
    const jpegs = all.filter((s) => s.format === "jpeg");
    const good = jpegs[0].bytes;
    // Mutants that make the WebAssembly decoder trap (a panic or a wild memory access inside it).
    const rng = new Random(5);
    const traps: Uint8Array[] = [];
    for (let i = 0; i < 5000 && traps.length < 4; i++) {
      const m = mutate(rng, jpegs);
      try {
        await decodeImage(m.bytes);
      } catch (error) {
        if ((error as Error).cause instanceof WebAssembly.RuntimeError) traps.push(m.bytes);
      }
    }
    assert.equal(traps.length, 4, "the mutator finds JPEGs that trap the decoder");
    for (let round = 0; round < 300; round++) {
      await assert.rejects(() => decodeImage(traps[round % traps.length]), ImageError);
      if (round % 50 === 49) {
        const image = await decodeImage(good);
        assert.equal(
          image.data.length,
          image.width * image.height * 3,
          `a good JPEG decodes after ${round + 1} traps`,
        );
      }
    }
  },
});

Deno.test("decodeImage() shows a damaged chunk type in hex, so that an error stays one printable line", async () => {
  const png = new Uint8Array(45);
  png.set([
    0x89,
    0x50,
    0x4e,
    0x47,
    0x0d,
    0x0a,
    0x1a,
    0x0a,
    0,
    0,
    0,
    13,
    0x49,
    0x48,
    0x44,
    0x52,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    1,
    8,
    2,
  ]);
  // After the header, a chunk whose type holds a newline and whose length runs past the end.
  png.set([0, 0, 0x10, 0, 0x0a, 0x31, 0xeb, 0xcd], 33);
  await assert.rejects(
    () => decodeImage(png),
    (e) =>
      e instanceof ImageError &&
      e.message === "PNG is truncated: chunk 0x0a31ebcd runs 4096 bytes past the end",
  );
});

Deno.test({
  name: "startProcessor() answers every mutated frame once, with a score or a clear error, and loses none",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await reliabilityModel();
    const stateDir = await stateDirWith(model.clip, ["fuzz"]);
    try {
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: () => {},
        workers: 1,
      });
      const report = await runServiceFuzz({
        nc: await ns.connect("camera"),
        station: "fuzz",
        corpus: await seeds(),
        count: 150,
      });
      console.log(`service fuzz: ${JSON.stringify({ ...report, examples: undefined })}`);
      assert.equal(report.lost, 0, "every frame has a result");
      assert.equal(report.duplicates, 0, "and only one");
      assert.equal(report.unclear, 0, "each a score or an error with its reason");
      assert.ok(report.scored > 0 && (report.errors.undecodable ?? 0) > 0);
      assert.deepEqual(
        Object.keys(report.errors).filter((r) => !["undecodable", "too-large", "empty"].includes(r)),
        [],
        `only decoder reasons: ${JSON.stringify(report.examples)}`,
      );
      const status = processor.status().stations.find((s) => s.station === "fuzz")!;
      const dropped = Object.values(status.dropped).reduce((a, b) => a + (b ?? 0), 0);
      assert.equal(status.received, 150);
      assert.equal(status.scored + dropped, 150, "the counters agree: scored + dropped = received");
      await processor.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
