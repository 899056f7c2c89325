/**
 * The graph builder: values, nodes and initializers of one ONNX graph, with static shape inference
 * (numbers for fixed dims, strings for symbolic ones) so that a wrongly wired model fails while it is
 * built, naming the op, rather than inside onnxruntime.
 *
 * Ops are declared once, as {@linkcode OpDef} records in `ops/<family>.ts`; this file knows none of
 * them.
 *
 * @module
 */
import { ErrorCode, GraphError } from "../errors.ts";

/** Element types the project emits (ONNX TensorProto.DataType in parentheses). */
export const DType = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
} as const;
/** An element type name. */
export type DType = keyof typeof DType;

/** A dimension: a number when fixed, a name when symbolic (batch, sequence). */
export type Dim = number | string;

/** An ONNX attribute value with its type made explicit. */
export type Attr =
  | { readonly type: "int"; readonly value: number }
  | { readonly type: "float"; readonly value: number }
  | { readonly type: "ints"; readonly value: readonly number[] }
  | { readonly type: "floats"; readonly value: readonly number[] }
  | { readonly type: "string"; readonly value: string };

/** Attribute constructors, so call sites read `{ axis: attr.int(-1) }`. */
export const attr = {
  int: (value: number): Attr => ({ type: "int", value }),
  float: (value: number): Attr => ({ type: "float", value }),
  ints: (value: readonly number[]): Attr => ({ type: "ints", value }),
  floats: (value: readonly number[]): Attr => ({ type: "floats", value }),
  string: (value: string): Attr => ({ type: "string", value }),
};

/** Attributes of one node. */
export type Attrs = Readonly<Record<string, Attr>>;

/** The data of an initializer. */
export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

/**
 * An initializer's elements, or a function that produces them when the model is written: a large
 * model's weights then exist one tensor at a time instead of all at once beside the checkpoint's.
 */
export type InitializerData = TensorData | (() => TensorData);

/** A tensor-valued edge of the graph. */
export interface Value {
  /** The graph it belongs to. */
  readonly graph: GraphBuilder;
  /** Its unique name in the graph. */
  readonly name: string;
  /** Its element type. */
  readonly dtype: DType;
  /** Its inferred shape: numbers for fixed dims, names for symbolic ones. */
  readonly shape: readonly Dim[];
  /** The node that produces it; absent for graph inputs and initializers. */
  readonly producer?: Node;
}

/** One operator application. */
export interface Node {
  /** The operator applied. */
  readonly op: OpDef;
  /** Its inputs in the operator's order; null for an omitted optional input. */
  readonly inputs: readonly (Value | null)[];
  /** Its outputs in the operator's order. */
  readonly outputs: readonly Value[];
  /** Its attributes. */
  readonly attrs: Attrs;
  /** Its unique node name. */
  readonly name: string;
}

/** A stored tensor: weights and constants. */
export interface Initializer {
  /** The graph value it defines. */
  readonly value: Value;
  /** Its elements, row-major, or what produces them (see {@linkcode initializerData}). */
  readonly data: InitializerData;
}

/** What an op's shape inference returns per output. */
export interface OutputSpec {
  /** The output's element type. */
  readonly dtype: DType;
  /** The output's shape. */
  readonly shape: readonly Dim[];
}

/**
 * A vector–Jacobian product rule: given the node and the gradient of each of its outputs (null where
 * an output does not reach the loss), returns one gradient per input, null where an input has none
 * (indices, shapes) or needs none. Rules are written with the same builder ops, so backward is itself
 * a graph. Gradients may have a broadcast shape; the walker sums them back to the input's shape.
 */
export type VjpRule = (node: Node, gradOutputs: readonly (Value | null)[]) => (Value | null)[];

/** The one declaration of an operator. */
export interface OpDef {
  /** ONNX op type. */
  readonly opType: string;
  /** Operator-set domain; "" is the default ONNX domain. */
  readonly domain?: string;
  /** Shape and type inference; throws a message (wrapped with the op's name) when inputs do not fit. */
  readonly infer: (inputs: readonly (Value | null)[], attrs: Attrs, graph: GraphBuilder) => OutputSpec[];
  /** Reverse-mode rule; absent for ops that autodiff refuses (VJP_MISSING). */
  readonly vjp?: VjpRule;
}

/** The opset of the default domain that every graph declares. */
export const OPSET = 20;

/** Builds one graph. */
export class GraphBuilder {
  /** The graph's name in the model. */
  readonly name: string;
  /** Nodes in the order applied (a topological order). */
  readonly nodes: Node[] = [];
  /** The graph's inputs, in declaration order. */
  readonly inputs: Value[] = [];
  /** The graph's outputs, in declaration order. */
  readonly outputs: Value[] = [];
  /** Stored tensors: weights and constants. */
  readonly initializers: Initializer[] = [];
  readonly #initializerByName = new Map<string, Initializer>();
  readonly #names = new Set<string>();
  readonly #constantCache = new Map<string, Value>();
  #counter = 0;

  /** An empty graph named `name`. */
  constructor(name: string) {
    this.name = name;
  }

  /** A fresh unique value name derived from `hint`. */
  uniqueName(hint: string): string {
    let name = hint;
    while (this.#names.has(name)) name = `${hint}_${++this.#counter}`;
    this.#names.add(name);
    return name;
  }

  /** Declares a graph input. */
  input(name: string, dtype: DType, shape: readonly Dim[]): Value {
    if (this.#names.has(name)) throw this.#error(`Duplicate input name: ${name}`);
    this.#names.add(name);
    const value: Value = { graph: this, name, dtype, shape };
    this.inputs.push(value);
    return value;
  }

  /**
   * Adds an initializer (weights or a constant). Data given as a function is produced, and its size
   * checked, only when the model is written; such an initializer is never a known constant.
   */
  initializer(hint: string, dtype: DType, shape: readonly Dim[], data: InitializerData): Value {
    const count = shape.reduce<number>((a, d) => a * (d as number), 1);
    if (shape.some((d) => typeof d !== "number") || (typeof data !== "function" && data.length !== count)) {
      const length = typeof data === "function" ? "deferred" : data.length;
      throw this.#error(`Initializer ${hint} has ${length} elements for shape [${shape}]`);
    }
    const value: Value = { graph: this, name: this.uniqueName(hint), dtype, shape };
    const init = { value, data };
    this.initializers.push(init);
    this.#initializerByName.set(value.name, init);
    return value;
  }

  /** A float32 constant, shared between call sites that ask for the same one. */
  constant(values: readonly number[], shape: readonly number[] = [values.length]): Value {
    return this.#cached(
      `f:${shape}:${values}`,
      () => this.initializer("const", "float32", shape, Float32Array.from(values)),
    );
  }

  /** A float32 scalar constant. */
  scalar(value: number): Value {
    return this.constant([value], []);
  }

  /** An int64 1-D constant (shapes, axes, indices). */
  int64s(values: readonly number[]): Value {
    return this.#cached(
      `i:${values}`,
      () => this.initializer("ints", "int64", [values.length], BigInt64Array.from(values, (v) => BigInt(v))),
    );
  }

  /** An int64 scalar constant. */
  int64(value: number): Value {
    return this.#cached(
      `is:${value}`,
      () => this.initializer("int", "int64", [], BigInt64Array.of(BigInt(value))),
    );
  }

  #cached(key: string, make: () => Value): Value {
    let value = this.#constantCache.get(key);
    if (!value) {
      value = make();
      this.#constantCache.set(key, value);
    }
    return value;
  }

  /** The stored data of a value when it is an initializer, else undefined. */
  constantData(value: Value | null): TensorData | undefined {
    const data = value ? this.#initializerByName.get(value.name)?.data : undefined;
    return typeof data === "function" ? undefined : data;
  }

  /** The integer values of a constant int64/int32 value (shapes, axes), or undefined when not constant. */
  constantInts(value: Value | null): number[] | undefined {
    const data = this.constantData(value);
    if (data instanceof BigInt64Array) return Array.from(data, Number);
    if (data instanceof Int32Array) return Array.from(data);
    return undefined;
  }

  /** Applies an op; returns its outputs. Shapes are inferred and checked here. */
  apply(op: OpDef, inputs: readonly (Value | null)[], attrs: Attrs = {}, nameHint?: string): Value[] {
    for (const input of inputs) {
      if (input && input.graph !== this) {
        throw this.#error(`${op.opType}: input ${input.name} belongs to another graph`);
      }
    }
    let specs: OutputSpec[];
    try {
      specs = op.infer(inputs, attrs, this);
    } catch (error) {
      const shapes = inputs.map((v) => (v ? `${v.name}[${v.shape}]` : "none")).join(", ");
      throw new GraphError(
        ErrorCode.SHAPE_MISMATCH,
        `${op.opType} cannot take its inputs: ${(error as Error).message} (inputs ${shapes})`,
        { cause: error },
      );
    }
    const base = nameHint ?? op.opType.toLowerCase();
    const outputs: Value[] = [];
    const node: Node = { op, inputs, outputs, attrs, name: this.uniqueName(`n_${base}`) };
    for (const spec of specs) {
      outputs.push({
        graph: this,
        name: this.uniqueName(base),
        dtype: spec.dtype,
        shape: spec.shape,
        producer: node,
      });
    }
    this.nodes.push(node);
    return outputs;
  }

  /** Marks a value as a graph output under `name`. */
  output(name: string, value: Value): void {
    if (this.outputs.some((o) => o.name === name)) throw this.#error(`Duplicate output name: ${name}`);
    if (value.name !== name) {
      if (this.#names.has(name)) throw this.#error(`Output name ${name} is already used inside the graph`);
      this.#names.add(name);
      const node: Node = {
        op: IDENTITY,
        inputs: [value],
        outputs: [],
        attrs: {},
        name: this.uniqueName("n_out"),
      };
      const renamed: Value = { graph: this, name, dtype: value.dtype, shape: value.shape, producer: node };
      (node.outputs as Value[]).push(renamed);
      this.nodes.push(node);
      value = renamed;
    }
    this.outputs.push(value);
  }

  #error(message: string): GraphError {
    return new GraphError(ErrorCode.GRAPH_INVALID, `Graph ${this.name}: ${message}`);
  }
}

/** Identity: used to give graph outputs their public names. */
export const IDENTITY: OpDef = {
  opType: "Identity",
  infer: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }],
  vjp: (_node, [g]) => [g],
};

/**
 * An initializer's elements, produced now when they were deferred.
 *
 * @throws {RangeError} when a deferred producer returns a different number of elements than the shape holds
 */
export function initializerData(init: Initializer): TensorData {
  if (typeof init.data !== "function") return init.data;
  const data = init.data();
  const count = init.value.shape.reduce<number>((a, d) => a * (d as number), 1);
  if (data.length !== count) {
    throw new RangeError(
      `Initializer ${init.value.name} produced ${data.length} elements for shape [${init.value.shape}]`,
    );
  }
  return data;
}
