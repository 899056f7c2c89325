/**
 * The CLIP ViT-B/16 vision graph at each precision beside torch's own ONNX export of OpenAI's
 * vision tower (`../shared/reference/export_torch_vit.py`, run with Debian's python3-torch), all under
 * the same onnxruntime with the same session options (`createSession`, CPU), timed alternately in one
 * process: in every round each contender runs once on the same pixels, so load from other users of
 * the machine falls on all of them alike. Ratios are medians of the per-round ratios; absolute
 * figures are medians too, and noisier.
 *
 * Without python3-torch (or ../shared) the torch column is skipped with one line saying why.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ClipModel, Precision } from "../src/model/mod.ts";
import { createSession } from "../src/onnx/mod.ts";

const REFERENCE_SCRIPT = fileURLToPath(
  new URL("../../shared/reference/export_torch_vit.py", import.meta.url),
);
/** Debian's interpreter: python3-torch installs into its dist-packages, not into a pyenv. */
const PYTHON = "/usr/bin/python3";

/** Something timed: one run over `n` images of `pixels`. */
export interface Contender {
  readonly name: string;
  run(pixels: Float32Array, n: number): Promise<unknown>;
}

/** Per-contender milliseconds of each round, in round order. */
export type RoundTimes = Record<string, number[]>;

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Runs every contender once per round, in turn, after one warm-up run each.
 *
 * @returns each contender's milliseconds per round
 */
export async function alternate(
  contenders: readonly Contender[],
  batch: number,
  rounds: number,
  size = 224,
): Promise<RoundTimes> {
  const pixels = new Float32Array(batch * 3 * size * size).map((_, i) => Math.sin(i) * 1.5);
  for (const c of contenders) await c.run(pixels, batch);
  const times: RoundTimes = Object.fromEntries(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of contenders) {
      const t = performance.now();
      await c.run(pixels, batch);
      times[c.name].push(performance.now() - t);
    }
  }
  return times;
}

/** Throughput of `a` over that of `b`: the median over rounds of b's time / a's time. */
export function speedRatio(times: RoundTimes, a: string, b: string): number {
  return median(times[a].map((ms, r) => times[b][r] / ms));
}

/**
 * torch's export of OpenAI's ViT-B/16 vision tower (random weights) at `out`, made once.
 *
 * @returns the model path, or a one-line reason why there is none
 */
export async function torchReference(out: string): Promise<{ path: string } | { skipped: string }> {
  if (existsSync(out)) return { path: out };
  if (!existsSync(REFERENCE_SCRIPT)) return { skipped: `${REFERENCE_SCRIPT} is absent` };
  const probe = await new Deno.Command(PYTHON, {
    args: ["-c", "import torch"],
    stderr: "null",
    stdout: "null",
  })
    .output().catch(() => ({ code: 127 }));
  if (probe.code !== 0) return { skipped: "python3-torch is absent (apt-get install python3-torch)" };
  console.log("exporting torch's ViT-B/16 (once, ~1–2 min) …");
  const tmp = `${out}.tmp-${Deno.pid}`;
  const { code, stderr } = await new Deno.Command(PYTHON, {
    args: [REFERENCE_SCRIPT, tmp, "vit-b-16"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    await Deno.remove(tmp).catch(() => {});
    const last = new TextDecoder().decode(stderr).trim().split("\n").at(-1);
    return { skipped: `the torch export failed: ${last}` };
  }
  await Deno.rename(tmp, out);
  return { path: out };
}

/** A CLIP model's vision graph as a contender. */
export function clipContender(name: string, clip: ClipModel): Contender {
  return { name, run: (pixels, n) => clip.encodeImage(pixels, n) };
}

/** A torch-exported vision tower (input `pixel_values`) opened like the project's graphs. */
export async function torchContender(
  path: string,
  size = 224,
): Promise<Contender & { dispose(): Promise<void> }> {
  const session = await createSession(path, { device: "cpu", log: () => {} });
  return {
    name: "torch",
    run: (pixels, n) => session.run({ pixel_values: { data: pixels, dims: [n, 3, size, size] } }),
    dispose: () => session.dispose(),
  };
}

/** The rows of the vision table: images/s per contender, and the ratios the acceptance names. */
export function visionRows(
  times: RoundTimes,
  batch: number,
  flopsPerImage: (contender: string) => number,
  precisions: readonly Precision[],
): string[][] {
  const rows: string[][] = [];
  for (const name of Object.keys(times)) {
    const ms = median(times[name]);
    const ips = (batch * 1000) / ms;
    const vs = name === "torch" ? "reference" : [
      times.torch ? `${speedRatio(times, name, "torch").toFixed(2)}× torch` : "",
      name !== "fp32" && (precisions as string[]).includes(name)
        ? `${speedRatio(times, name, "fp32").toFixed(2)}× fp32`
        : "",
    ].filter(Boolean).join(", ");
    rows.push([
      `ViT-B/16 vision ${name === "torch" ? "torch export" : name}, batch ${batch}`,
      `${ips.toFixed(2)} images/s`,
      `${(ms / batch).toFixed(1)} ms/image`,
      `${((flopsPerImage(name) * ips) / 1e9).toFixed(0)} GFLOP/s`,
      vs,
    ]);
  }
  return rows;
}

/** Where the bench keeps the torch export. */
export function torchReferencePath(benchDir: string): string {
  return join(benchDir, "torch-vit-b-16.onnx");
}
