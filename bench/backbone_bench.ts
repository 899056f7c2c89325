/**
 * The proxy patch backbone (../shared/models/proxy, MobileNetV2) as given and with `--precision
 * int8` (its dense convolutions quantised when loaded: onnx/quantize_model.ts), timed alternately in
 * one process at batch 8, the eval's batch. Skipped with one line without ../shared.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createSession, quantizeModelWeights } from "../src/onnx/mod.ts";
import { alternate, type Contender, median, speedRatio } from "./vision_bench.ts";

const MODEL = fileURLToPath(new URL("../../shared/models/proxy/mobilenetv2-features.onnx", import.meta.url));
const OUTPUTS = ["features_14", "features_28"];

/**
 * Rows for the bench's table: images/s of each, and int8's throughput as a ratio to fp32's.
 *
 * @returns the rows, or one row saying why there are none
 */
export async function benchBackbone(batch = 8, rounds = 15): Promise<string[][]> {
  if (!existsSync(MODEL)) return [["proxy backbone", "skipped", `${MODEL} is absent`]];
  const bytes = await Deno.readFile(MODEL);
  const sessions = {
    fp32: await createSession(bytes, { device: "cpu", log: () => {} }),
    int8: await createSession(quantizeModelWeights(bytes).model, { device: "cpu", log: () => {} }),
  };
  try {
    const contenders: Contender[] = Object.entries(sessions).map(([name, s]) => ({
      name,
      run: (pixels, n) => s.run({ pixel_values: { data: pixels, dims: [n, 3, 224, 224] } }, OUTPUTS),
    }));
    const times = await alternate(contenders, batch, rounds);
    return Object.keys(sessions).map((name) => [
      `proxy backbone (MobileNetV2) ${name}, batch ${batch}`,
      `${((batch * 1000) / median(times[name])).toFixed(1)} images/s`,
      `${(median(times[name]) / batch).toFixed(1)} ms/image`,
      "",
      name === "int8" ? `${speedRatio(times, "int8", "fp32").toFixed(2)}× fp32` : "",
    ]);
  } finally {
    for (const s of Object.values(sessions)) await s.dispose();
  }
}

if (import.meta.main) {
  for (const row of await benchBackbone()) console.log(row.join("  ").trimEnd());
}
