/**
 * Offline work on calibration: reads the inputs `adp eval` dumps with ADP_EVAL_DUMP_CALIBRATION=1
 * (`<out>/calibration/<category>/k<K>-seed<S>.{json,bin}`) and prints diagnostics.
 *
 *   deno run -A bench/calibration_lab.ts DIR…
 *
 * @module
 */
import { join } from "node:path";
import type { HeldOutDistances } from "../src/adp/held_out.ts";
import type { BranchScores } from "../src/adp/fusion.ts";

export interface DumpedRun {
  category: string;
  k: number;
  seed: number;
  labels: number[];
  normals: BranchScores[];
  pseudoAnomalies: BranchScores[];
  distances: HeldOutDistances;
  test: Record<string, number[]>;
}

export async function loadDumps(roots: string[]): Promise<DumpedRun[]> {
  const runs: DumpedRun[] = [];
  for (const root of roots) {
    const base = join(root, "calibration");
    for await (const cat of Deno.readDir(base)) {
      for await (const f of Deno.readDir(join(base, cat.name))) {
        if (!f.name.endsWith(".json")) continue;
        const path = join(base, cat.name, f.name);
        const doc = JSON.parse(await Deno.readTextFile(path));
        const bytes = await Deno.readFile(path.replace(/\.json$/, ".bin"));
        const bin = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
        const s = doc.distances;
        const n = s.shots * s.testViews * s.shots * s.memoryViews * s.cells;
        const { hasSelf: _, ...shape } = s;
        runs.push({
          category: cat.name,
          k: doc.k,
          seed: doc.seed,
          labels: doc.labels,
          normals: doc.normals,
          pseudoAnomalies: doc.pseudoAnomalies,
          distances: { ...shape, cross: bin.subarray(0, n), self: s.hasSelf ? bin.subarray(n) : null },
          test: doc.test,
        });
      }
    }
  }
  return runs.sort((a, b) => a.category.localeCompare(b.category) || a.k - b.k || a.seed - b.seed);
}

export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = q * (s.length - 1), lo = Math.floor(at), hi = Math.ceil(at);
  return s[lo] + (s[hi] - s[lo]) * (at - lo);
}
export const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
