/**
 * int8 weights for an ONNX model made elsewhere (a patch backbone): every dense convolution and
 * every matrix product by a float32 weight is rewritten, as the model is loaded, to run in integer
 * arithmetic with the weight quantised per output channel (symmetric, as the CLIP graphs' int8
 * weights: weight_precision.ts) and the activations per tensor at run time.
 *
 * - `Conv` (group 1) → `DynamicQuantizeLinear` (shared by convolutions reading the same tensor) →
 *   `ConvInteger` → `Cast` → `Mul` by activation scale × channel scales → `Add` bias. The weights
 *   are the symmetric int8 grid stored as uint8 around a zero point of 128: onnxruntime 1.30's CPU
 *   ConvInteger ran int8 weights 5–6× slower than uint8 ones on the proxy backbone.
 * - `MatMul` by a [K, N] weight → com.microsoft `DynamicQuantizeMatMul`, the op the CLIP graphs use.
 *
 * Depthwise and grouped convolutions stay float32: there is no integer kernel for them, and their
 * few weights per channel lose most to rounding. So does everything else (clips, sums, pooling).
 * Only the rewritten nodes and their weights are decoded; every other byte is copied.
 *
 * @module
 */
import { concatBytes } from "../bytes.ts";
import { ConfigError } from "../errors.ts";
import { type Field, lengthDelimited, parseMessage, ProtoWriter } from "./_protobuf.ts";
import { DType } from "./graph.ts";
import { quantizeColumns } from "./weight_precision.ts";

// Field numbers (onnx.proto3).
const MODEL_GRAPH = 7;
const MODEL_OPSET = 8;
const OPSET_DOMAIN = 1;
const OPSET_VERSION = 2;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP = 4;
const NODE_ATTRIBUTE = 5;
const NODE_DOMAIN = 7;
const ATTR_NAME = 1;
const ATTR_INT = 3;
const ATTR_TYPE = 20;
const ATTR_TYPE_INT = 2;
const TENSOR_DIMS = 1;
const TENSOR_TYPE = 2;
const TENSOR_FLOATS = 4;
const TENSOR_NAME = 8;
const TENSOR_RAW = 9;
const TENSOR_LOCATION = 14;

/** DynamicQuantizeLinear and the integer convolution need opset 11 of the default domain. */
const MIN_OPSET = 11;
const MICROSOFT = "com.microsoft";

/** What {@linkcode quantizeModelWeights} did. */
export interface QuantizedModel {
  /** The rewritten model's bytes. */
  model: Uint8Array;
  /** Convolutions and matrix products now run on int8 weights. */
  quantized: number;
  /** Convolutions left in float32 (depthwise, grouped, or with weights computed in the graph). */
  kept: number;
}

interface FloatInitializer {
  dims: number[];
  data: Float32Array;
}

const decoder = new TextDecoder();
const text = (f: Field | undefined): string => (f?.payload ? decoder.decode(f.payload) : "");

/**
 * Quantises a model's dense convolution and matrix-product weights to int8 per output channel.
 *
 * @param model the model file's bytes (weights inline)
 * @returns the rewritten model and counts of what changed
 * @throws {ConfigError} when the model is not a protobuf, has no graph, keeps its weights in an
 *   external file, or declares an opset below 11 (nothing to rewrite it into)
 */
export function quantizeModelWeights(model: Uint8Array): QuantizedModel {
  const fields = parseMessage(model);
  const graphField = fields.find((f) => f.no === MODEL_GRAPH);
  if (!graphField?.payload) throw new ConfigError("ONNX model has no graph");
  const opset = fields.filter((f) => f.no === MODEL_OPSET).map((f) => parseMessage(f.payload!));
  const main = opset.find((o) => text(o.find((f) => f.no === OPSET_DOMAIN)) === "");
  const version = main?.find((f) => f.no === OPSET_VERSION)?.value ?? 0;
  if (version < MIN_OPSET) {
    throw new ConfigError(
      `ONNX model declares opset ${version}: int8 weights need opset ${MIN_OPSET} or later`,
    );
  }
  const graph = parseMessage(graphField.payload);
  const floats = new Map<string, FloatInitializer>();
  for (const f of graph) {
    if (f.no !== GRAPH_INITIALIZER) continue;
    const t = parseMessage(f.payload!);
    if (t.some((x) => x.no === TENSOR_LOCATION && x.value === 1)) {
      throw new ConfigError("ONNX model keeps its weights in an external file: they cannot be quantised");
    }
    const init = floatInitializer(t);
    if (init) floats.set(text(t.find((x) => x.no === TENSOR_NAME)), init);
  }
  const rewrite = new Rewrite(floats);
  const nodes: Uint8Array[] = [];
  for (const f of graph) {
    if (f.no === GRAPH_NODE) nodes.push(...rewrite.node(f));
  }
  // Weights that only the rewritten nodes read are dropped with them.
  const read = new Set(rewrite.readNames);
  const kept = graph.filter((f) => {
    if (f.no === GRAPH_NODE) return false;
    if (f.no !== GRAPH_INITIALIZER) return true;
    const name = text(parseMessage(f.payload!).find((x) => x.no === TENSOR_NAME));
    return !rewrite.replaced.has(name) || read.has(name);
  });
  const newGraph = concatBytes([...nodes, ...kept.map((f) => f.raw), ...rewrite.initializers]);
  const out: Uint8Array[] = fields.map((f) =>
    f === graphField ? lengthDelimited(MODEL_GRAPH, newGraph) : f.raw
  );
  const hasMicrosoft = opset.some((o) => text(o.find((f) => f.no === OPSET_DOMAIN)) === MICROSOFT);
  if (rewrite.usesMicrosoft && !hasMicrosoft) {
    out.push(lengthDelimited(MODEL_OPSET, new ProtoWriter().string(1, MICROSOFT).int(2, 1).bytesOut()));
  }
  return { model: concatBytes(out), quantized: rewrite.quantized, kept: rewrite.keptConvs };
}

/** A float32 initializer's dims and values, or undefined for any other type. */
function floatInitializer(t: Field[]): FloatInitializer | undefined {
  if (t.find((x) => x.no === TENSOR_TYPE)?.value !== DType.float32) return undefined;
  const dims = t.filter((x) => x.no === TENSOR_DIMS).map((x) => x.value!);
  const raw = t.find((x) => x.no === TENSOR_RAW)?.payload;
  const packed = t.find((x) => x.no === TENSOR_FLOATS)?.payload;
  const bytes = raw ?? packed;
  if (!bytes) return undefined;
  return { dims, data: new Float32Array(bytes.slice().buffer) };
}

/** The node rewriter: replacement nodes out, new initializers collected. */
class Rewrite {
  readonly initializers: Uint8Array[] = [];
  /** Initializers the rewritten nodes no longer read. */
  readonly replaced = new Set<string>();
  /** Every input name the output graph's nodes read. */
  readonly readNames: string[] = [];
  quantized = 0;
  keptConvs = 0;
  usesMicrosoft = false;
  readonly #floats: Map<string, FloatInitializer>;
  /** Activation → its DynamicQuantizeLinear outputs, so that convolutions of one tensor share one. */
  readonly #quantizedInputs = new Map<string, [string, string, string]>();
  readonly #emitted = new Set<string>();

  constructor(floats: Map<string, FloatInitializer>) {
    this.#floats = floats;
  }

  node(f: Field): Uint8Array[] {
    const n = parseMessage(f.payload!);
    const op = text(n.find((x) => x.no === NODE_OP));
    const domain = text(n.find((x) => x.no === NODE_DOMAIN));
    const inputs = n.filter((x) => x.no === NODE_INPUT).map(text);
    const output = text(n.find((x) => x.no === NODE_OUTPUT));
    const weight = this.#floats.get(inputs[1] ?? "");
    let out: Uint8Array[] | undefined;
    if (domain === "" && op === "Conv" && weight?.dims.length === 4) {
      if (intAttribute(n, "group", 1) === 1) out = this.#conv(n, inputs, output, weight);
      else this.keptConvs++;
    } else if (domain === "" && op === "MatMul" && weight?.dims.length === 2) {
      out = this.#matMul(inputs, output, weight);
    }
    if (!out) {
      this.readNames.push(...inputs);
      return [f.raw];
    }
    this.quantized++;
    this.replaced.add(inputs[1]);
    if (inputs[2]) this.replaced.add(inputs[2]);
    return out;
  }

  #conv(n: Field[], inputs: string[], y: string, w: FloatInitializer): Uint8Array[] | undefined {
    const [channels] = w.dims;
    const inner = w.data.length / channels;
    const bias = inputs[2] ? this.#floats.get(inputs[2]) : undefined;
    if (inputs[2] && !bias) return undefined; // a bias computed in the graph: leave the node as it is
    // quantizeColumns works per column of [K, N]: the weight's rows (output channels) transposed.
    const columns = new Float32Array(w.data.length);
    for (let c = 0; c < channels; c++) {
      for (let k = 0; k < inner; k++) columns[k * channels + c] = w.data[c * inner + k];
    }
    const q = quantizeColumns(columns, inner, channels);
    const rows = new Uint8Array(w.data.length), cols = new Int8Array(q.weight.buffer);
    for (let c = 0; c < channels; c++) {
      for (let k = 0; k < inner; k++) rows[c * inner + k] = cols[k * channels + c] + 128;
    }
    const base = uniqueBase(y);
    const wq = this.#tensor(`${base}/weight_uint8`, "uint8", w.dims, rows);
    const wz = this.#tensor(`${base}/weight_zero`, "uint8", [], Uint8Array.of(128));
    const scale = this.#tensor(`${base}/weight_scale`, "float32", [channels, 1, 1], q.scale);
    const [xq, xs, xz] = this.#quantizedInput(inputs[0]);
    const attrs = n.filter((x) => x.no === NODE_ATTRIBUTE).map((x) => x.raw);
    const nodes = [
      ...this.#dynamicQuantize(inputs[0]),
      nodeBytes("ConvInteger", [xq, wq, xz, wz], [`${base}/int32`], attrs),
      nodeBytes("Cast", [`${base}/int32`], [`${base}/float`], [intAttr("to", DType.float32)]),
      nodeBytes("Mul", [xs, scale], [`${base}/scale`]),
      nodeBytes("Mul", [`${base}/float`, `${base}/scale`], [bias ? `${base}/scaled` : y]),
    ];
    this.readNames.push(xq, wq, xz, xs, scale);
    if (bias) {
      const b = this.#tensor(`${base}/bias`, "float32", [channels, 1, 1], bias.data);
      nodes.push(nodeBytes("Add", [`${base}/scaled`, b], [y]));
      this.readNames.push(b);
    }
    return nodes;
  }

  #matMul(inputs: string[], y: string, w: FloatInitializer): Uint8Array[] {
    const [k, n] = w.dims;
    const q = quantizeColumns(w.data, k, n);
    const base = uniqueBase(y);
    const wq = this.#tensor(`${base}/weight_int8`, "int8", w.dims, q.weight);
    const scale = this.#tensor(`${base}/weight_scale`, "float32", [n], q.scale);
    this.usesMicrosoft = true;
    this.readNames.push(inputs[0], wq, scale);
    return [nodeBytes("DynamicQuantizeMatMul", [inputs[0], wq, scale], [y], [], MICROSOFT)];
  }

  /** The DynamicQuantizeLinear node for `x`, once per tensor (empty when it exists already). */
  #dynamicQuantize(x: string): Uint8Array[] {
    if (this.#emitted.has(x)) return [];
    this.#emitted.add(x);
    return [nodeBytes("DynamicQuantizeLinear", [x], this.#quantizedInputs.get(x)!)];
  }

  #quantizedInput(x: string): [string, string, string] {
    let names = this.#quantizedInputs.get(x);
    if (!names) {
      const base = uniqueBase(x);
      names = [`${base}/uint8`, `${base}/uint8_scale`, `${base}/uint8_zero`];
      this.#quantizedInputs.set(x, names);
    }
    return names;
  }

  #tensor(
    name: string,
    dtype: "int8" | "uint8" | "float32",
    dims: number[],
    data: Uint8Array | Float32Array,
  ): string {
    const t = new ProtoWriter();
    for (const d of dims) t.int(TENSOR_DIMS, d);
    t.int(TENSOR_TYPE, DType[dtype]).string(TENSOR_NAME, name);
    t.bytes(TENSOR_RAW, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.initializers.push(lengthDelimited(GRAPH_INITIALIZER, t.bytesOut()));
    return name;
  }
}

/** Names of added tensors start with the original's and a marker no exporter writes. */
function uniqueBase(name: string): string {
  return `${name}/adp_int8`;
}

function intAttribute(node: Field[], name: string, fallback: number): number {
  for (const f of node) {
    if (f.no !== NODE_ATTRIBUTE) continue;
    const a = parseMessage(f.payload!);
    if (text(a.find((x) => x.no === ATTR_NAME)) === name) {
      return a.find((x) => x.no === ATTR_INT)?.value ?? fallback;
    }
  }
  return fallback;
}

function intAttr(name: string, value: number): Uint8Array {
  const a = new ProtoWriter().string(ATTR_NAME, name).int(ATTR_INT, value).int(ATTR_TYPE, ATTR_TYPE_INT);
  return lengthDelimited(NODE_ATTRIBUTE, a.bytesOut());
}

function nodeBytes(
  op: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: readonly Uint8Array[] = [],
  domain = "",
): Uint8Array {
  const p = new ProtoWriter();
  for (const i of inputs) p.string(NODE_INPUT, i);
  for (const o of outputs) p.string(NODE_OUTPUT, o);
  p.string(NODE_NAME, `${outputs[0]}/node`).string(NODE_OP, op);
  if (domain) p.string(NODE_DOMAIN, domain);
  const head = p.bytesOut();
  return lengthDelimited(GRAPH_NODE, concatBytes([head, ...attributes]));
}
