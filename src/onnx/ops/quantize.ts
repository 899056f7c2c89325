/**
 * Reduced-precision matrix products for inference graphs. Inference only: neither op has a `vjp`,
 * so autodiff refuses them with VJP_MISSING (the text VJP graph is built in float32).
 *
 * @module
 */
import type { OpDef, Value } from "../graph.ts";
import { dimsCompatible } from "./_shape.ts";

/** onnxruntime's contrib-op domain. */
const MICROSOFT = "com.microsoft";

/**
 * com.microsoft DynamicQuantizeMatMul: `A` (float32) is quantised to uint8 per tensor at run time,
 * multiplied by the int8 weight `B` [K, N] in integer arithmetic (AVX-512 VNNI, AVX2 or NEON
 * kernels), and scaled back with `b_scale` (one per column of B, or one for all) and A's scale; an
 * optional float32 `bias` [N] is added. One node in place of DynamicQuantizeLinear, MatMulInteger,
 * Cast, Mul and Add.
 */
export const DYNAMIC_QUANTIZE_MATMUL: OpDef = {
  opType: "DynamicQuantizeMatMul",
  domain: MICROSOFT,
  infer: ([a, b, scale, , bias]) => {
    if (a!.dtype !== "float32") throw new Error(`A is ${a!.dtype}, not float32`);
    if (b!.dtype !== "int8" && b!.dtype !== "uint8") throw new Error(`B is ${b!.dtype}, not 8-bit`);
    if (b!.shape.length !== 2) throw new Error("B here is a [K, N] matrix");
    const [k, n] = b!.shape;
    if (!dimsCompatible(a!.shape[a!.shape.length - 1], k)) {
      throw new Error(`inner dims ${a!.shape[a!.shape.length - 1]} and ${k} differ`);
    }
    const scales = scale!.shape.length === 0 ? 1 : scale!.shape[0];
    if (scales !== 1 && scales !== n) throw new Error(`${scales} scales for ${n} columns`);
    if (bias && !dimsCompatible(bias.shape[0], n)) throw new Error(`bias [${bias.shape}] for ${n} columns`);
    return [{ dtype: "float32", shape: [...a!.shape.slice(0, -1), n] }];
  },
};

/**
 * `a @ dequantise(weight) + bias` with `a` quantised at run time (see
 * {@linkcode DYNAMIC_QUANTIZE_MATMUL}); `weight` int8 [K, N] with `scale` float32 [N] per column
 * (symmetric: zero point 0).
 */
export function dynamicQuantizeMatMul(a: Value, weight: Value, scale: Value, bias?: Value): Value {
  return a.graph.apply(DYNAMIC_QUANTIZE_MATMUL, [a, weight, scale, null, bias ?? null])[0];
}
