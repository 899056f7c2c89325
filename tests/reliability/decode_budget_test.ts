/**
 * Decoding bounded and fair (issue 17, defects 2 and 3): a scan-bomb JPEG and a PNG bomb are refused
 * from their headers' cost before any decoding, a decode over its time budget loses its worker (and
 * only its own request fails), and what scoring keeps of a frame is its model inputs and a preview
 * at heat-map size, never the full-resolution frame.
 */
import assert from "node:assert/strict";
import type { FramePreparation } from "../../src/adp/frame_input.ts";
import { readDecodeCost } from "../../src/image/mod.ts";
import { DecodePool } from "../../src/stream/decode_pool.ts";
import { DecodeBudgetError } from "../../src/stream/errors.ts";
import { previewForOverlay, renderOverlay } from "../../src/stream/heatmap.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import { decodeResult, FrameErrorReason, type ResultMessage } from "../../src/stream/messages.ts";
import { framesSubject, RESULTS_WILDCARD } from "../../src/stream/subjects.ts";
import { decodeImage } from "../../src/image/decode.ts";
import { pngBomb, scanBombJpeg } from "../../bench/soak/bombs.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared } from "../_shared.ts";
import { bottle, Gather, sendFrame, stateDirWith, tinyModel } from "../stream/_fixture.ts";

const PREPARATION: FramePreparation = {
  clip: { size: 224, mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] },
  patchInputs: [],
};

Deno.test("readDecodeCost() counts a JPEG's scans and a PNG's working bytes per pixel", async () => {
  const jpeg = readDecodeCost(await scanBombJpeg(256, 40));
  assert.equal(jpeg.scans, 40);
  assert.equal(jpeg.pixels, 256 * 256);
  assert.equal(jpeg.cost, jpeg.pixels * jpeg.bytesPerPixel * 40);
  const png = readDecodeCost(await pngBomb(1000));
  assert.deepEqual([png.pixels, png.bytesPerPixel, png.scans], [1_000_000, 11, 1]);
});

Deno.test({
  name: "DecodePool stops a decode over its time budget, replaces the worker and decodes the next frame",
  ...needsShared,
  async fn() {
    const pool = new DecodePool(1);
    try {
      const frame = await bottle(0);
      // A 1 ms budget cannot hold a 900×900 decode: the worker is stopped.
      await assert.rejects(
        pool.decode(frame, 4_000_000, null, { timeoutMs: 1 }),
        (e) => e instanceof DecodeBudgetError && /budget of 1 ms/.test(e.message),
      );
      assert.equal(pool.replaced, 1);
      const again = await pool.decode(frame, 4_000_000);
      assert.equal(again.image.width, 900);
    } finally {
      pool.terminate();
    }
  },
});

Deno.test({
  name: "DecodePool.decodeForScoring() returns the model inputs and a heat-map preview, not the full frame",
  ...needsShared,
  async fn() {
    const pool = new DecodePool(1);
    try {
      const bytes = await bottle(1);
      const d = await pool.decodeForScoring(bytes, {
        maxPixels: 4_000_000,
        prepare: PREPARATION,
        previewSide: 128,
      });
      assert.deepEqual([d.width, d.height], [900, 900]);
      assert.deepEqual([d.preview.width, d.preview.height], [128, 128]);
      assert.equal(d.prepared.clipPixels.length, 3 * 224 * 224);
      // The overlay of the preview is the overlay of the full frame, pixel for pixel.
      const full = await decodeImage(bytes);
      const map = new Float32Array(49).map((_, i) => i / 49);
      const size = { width: 7, height: 7 };
      assert.deepEqual(
        renderOverlay(d.preview, map, size, { maxSide: 128 }).rgba,
        renderOverlay(full, map, size, { maxSide: 128 }).rgba,
      );
      assert.equal(previewForOverlay(d.preview, 512), d.preview);
    } finally {
      pool.terminate();
    }
  },
});

Deno.test({
  name:
    "startProcessor() refuses scan and PNG bombs from their headers as too-large while another station is scored",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await tinyModel();
    const stateDir = await stateDirWith(model.clip, { line: {}, hostile: {} });
    try {
      const svc = await ns.connect("service");
      const client = await ns.connect("client");
      const processor = await startProcessor(svc, { clip: model.clip, stateDir, log: () => {}, workers: 2 });
      const results = new Gather<ResultMessage>(client, RESULTS_WILDCARD, (m) => decodeResult(m.data));
      await client.flush();
      const scanBomb = await scanBombJpeg(1024, 200);
      const pngBombBytes = await pngBomb(7071);
      for (let i = 0; i < 3; i++) {
        sendFrame(client, framesSubject("hostile"), scanBomb, `scan-${i}`);
        sendFrame(client, framesSubject("hostile"), pngBombBytes, `png-${i}`);
        sendFrame(client, framesSubject("line"), await bottle(4 + i), `line-${i}`);
      }
      await results.count(9, 120_000);
      await processor.stop();
      results.stop();
      const byId = new Map(results.items.map((r) => [r.frameId, r]));
      for (let i = 0; i < 3; i++) {
        const scan = byId.get(`scan-${i}`)!;
        assert.equal(scan.reason, FrameErrorReason.tooLarge, scan.error);
        assert.match(scan.error!, /200 scan\(s\).*--max-decode-cost/);
        const png = byId.get(`png-${i}`)!;
        assert.equal(png.reason, FrameErrorReason.tooLarge, png.error);
        assert.match(png.error!, /7071×7071 pixels × 11 bytes/);
        const line = byId.get(`line-${i}`)!;
        assert.equal(line.error, undefined, line.error);
        assert.equal(typeof line.score, "number");
      }
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
