/**
 * Reverse-mode automatic differentiation over the builder's ops: the one walker that turns a graph
 * into its vector–Jacobian product. Rules live beside each op (`OpDef.vjp`); this file does only
 * what every rule would otherwise repeat: it finds the nodes between the targets and the output,
 * accumulates gradients over fan-out, sums them back over broadcast axes, checks each rule's arity,
 * and names the op when a rule is missing. Backward is built into the same graph, so the forward
 * values that the rules read are computed once and shared.
 *
 * @module
 */
import { ErrorCode, GraphError } from "../errors.ts";
import type { DType, GraphBuilder, Node, Value } from "./graph.ts";
import { add, less } from "./ops/elementwise.ts";
import { reduceSum, reduceSumAxesAt } from "./ops/reduce.ts";
import { assumeShape, expand, nonZero, reshape, shapeOf } from "./ops/shape.ts";
import { dimsCompatible } from "./ops/_shape.ts";

/** Options for {@linkcode gradients}. */
export interface GradientOptions {
  /**
   * The upstream gradient dL/d`output`, shaped like the output: typically a graph input, so that
   * the finished graph maps an upstream gradient to the gradients of the targets.
   *
   * @default ones shaped like the output (the gradient of the sum of its elements)
   */
  seed?: Value;
}

/**
 * Adds to `output`'s graph the gradients of `output` (contracted with the seed) with respect to
 * each of `wrt`, and returns them in order: each shaped like its target, or null when the target
 * does not influence the output.
 *
 * Only nodes on a path from a target to the output are differentiated: a node none of whose inputs
 * depends on a target (weights, constants, index and shape computations) needs no rule, and
 * integer-valued results never carry gradients. Backward nodes that no returned gradient uses (a
 * weight's gradient when only the input's is wanted) are removed again before returning.
 *
 * @param output the value to differentiate
 * @param wrt the targets: graph inputs or any intermediate values
 * @param opts the upstream gradient
 * @returns one gradient per target, null where the target does not reach `output`
 * @throws {GraphError} VJP_MISSING naming the op when a node on the path has no rule;
 *   GRAPH_INVALID when a value belongs to another graph, the seed does not fit, or a rule returns
 *   the wrong number of gradients
 *
 * @example Gradient of x² seeded with an upstream gradient
 * ```ts
 * import assert from "node:assert/strict";
 * import { GraphBuilder } from "./graph.ts";
 * import { mul } from "./ops/elementwise.ts";
 * import { gradients } from "./autodiff.ts";
 *
 * const g = new GraphBuilder("square");
 * const x = g.input("x", "float32", ["n", 3]);
 * const upstream = g.input("grad_y", "float32", ["n", 3]);
 * const [dx] = gradients(mul(x, x), [x], { seed: upstream });
 * g.output("grad_x", dx!);
 * assert.deepEqual(dx!.shape, ["n", 3]);
 * ```
 */
export function gradients(
  output: Value,
  wrt: readonly Value[],
  opts: GradientOptions = {},
): (Value | null)[] {
  const g = output.graph;
  for (const v of [...wrt, ...(opts.seed ? [opts.seed] : [])]) {
    if (v.graph !== g) throw invalid(`${v.name} belongs to graph ${v.graph.name}, not ${g.name}`);
  }
  const seed = opts.seed ?? onesLike(output);
  checkSeed(seed, output);

  const forward = g.nodes.slice();
  const firstBackward = forward.length;
  const needsGrad = dependents(forward, wrt);
  const grads = new Map<string, Value>([[output.name, seed]]);

  for (let n = forward.length - 1; n >= 0; n--) {
    const node = forward[n];
    const gradOutputs = node.outputs.map((v) => grads.get(v.name) ?? null);
    if (gradOutputs.every((v) => v === null)) continue;
    if (!node.inputs.some((v) => v && needsGrad.has(v.name))) continue;
    const rule = node.op.vjp;
    if (!rule) {
      throw new GraphError(
        ErrorCode.VJP_MISSING,
        `${node.op.opType} has no gradient rule: node ${node.name} lies between the targets and ${output.name}`,
      );
    }
    const gradInputs = rule(node, gradOutputs);
    if (gradInputs.length !== node.inputs.length) {
      throw invalid(
        `The ${node.op.opType} rule returned ${gradInputs.length} gradients for ${node.inputs.length} inputs (node ${node.name})`,
      );
    }
    node.inputs.forEach((input, i) => {
      const grad = gradInputs[i];
      if (!input || !grad || !needsGrad.has(input.name)) return;
      const fitted = sumToShape(grad, input);
      const earlier = grads.get(input.name);
      grads.set(input.name, earlier ? add(earlier, fitted) : fitted);
    });
  }

  const result = wrt.map((v) => grads.get(v.name) ?? null);
  pruneUnused(g, firstBackward, result);
  return result;
}

/**
 * `grad` summed over the axes along which `like` was broadcast, so it has `like`'s shape. Static
 * shapes decide where they can: extra leading axes are summed away, an axis of fixed size 1 in
 * `like` is summed with keepdims, and an axis of any other fixed size cannot have been broadcast.
 * A symbolic axis whose gradient dim differs might be 1 at run time, so those are found then: the
 * axes where `like`'s run-time dim is smaller than the gradient's.
 */
export function sumToShape(grad: Value, like: Value): Value {
  const target = like.shape;
  const lead = grad.shape.length - target.length;
  if (lead < 0) {
    throw invalid(`A gradient of shape [${grad.shape}] cannot flow into ${like.name} of shape [${target}]`);
  }
  let g = lead > 0 ? reduceSum(grad, Array.from({ length: lead }, (_, i) => i), { keepDims: false }) : grad;
  const ones: number[] = [];
  let unknown = false;
  target.forEach((d, i) => {
    if (d === g.shape[i] || (typeof d === "number" && d !== 1)) return;
    if (d === 1) ones.push(i);
    else unknown = true;
  });
  if (ones.length) g = reduceSum(g, ones, { keepDims: true });
  if (unknown) {
    const stretched = reshape(nonZero(less(shapeOf(like), shapeOf(g))), [-1]);
    g = reduceSumAxesAt(g, stretched);
  }
  return assumeShape(g, target);
}

/** Names of the values that depend on a target through float-valued results. */
function dependents(nodes: readonly Node[], wrt: readonly Value[]): Set<string> {
  const needs = new Set(wrt.filter((v) => isFloat(v.dtype)).map((v) => v.name));
  for (const node of nodes) {
    if (!node.inputs.some((v) => v && needs.has(v.name))) continue;
    for (const out of node.outputs) if (isFloat(out.dtype)) needs.add(out.name);
  }
  return needs;
}

function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float16";
}

function onesLike(v: Value): Value {
  return assumeShape(expand(v.graph.scalar(1), shapeOf(v)), v.shape);
}

function checkSeed(seed: Value, output: Value): void {
  const fits = seed.dtype === output.dtype && seed.shape.length === output.shape.length &&
    seed.shape.every((d, i) => dimsCompatible(d, output.shape[i]));
  if (!fits) {
    throw invalid(
      `The seed ${seed.name} (${seed.dtype} [${seed.shape}]) does not fit ${output.name} (${output.dtype} [${output.shape}])`,
    );
  }
}

/**
 * Drops the backward nodes that no returned gradient reads. Rules return a gradient for every input
 * that could take one (a MatMul's weight as well as its activation); emitting only what is used
 * keeps that simple while sparing onnxruntime the unused work.
 */
function pruneUnused(g: GraphBuilder, firstBackward: number, results: readonly (Value | null)[]): void {
  const backward = new Set(g.nodes.slice(firstBackward));
  const used = new Set<Node>();
  const pending = results.flatMap((v) => (v?.producer ? [v.producer] : []));
  while (pending.length) {
    const node = pending.pop()!;
    if (!backward.has(node) || used.has(node)) continue;
    used.add(node);
    for (const input of node.inputs) if (input?.producer) pending.push(input.producer);
  }
  const kept = g.nodes.slice(firstBackward).filter((node) => used.has(node));
  g.nodes.splice(firstBackward, g.nodes.length - firstBackward, ...kept);
}

function invalid(message: string): GraphError {
  return new GraphError(ErrorCode.GRAPH_INVALID, message);
}
