/**
 * Shape arithmetic shared by the ops' inference rules. Symbolic dims are names; a dim the builder
 * cannot know statically becomes a fresh `?`-name so that later checks treat it as unknown.
 *
 * @module
 */
import type { Dim } from "../graph.ts";

let unknownCounter = 0;

/** A dim nothing is known about. */
export function unknownDim(): Dim {
  return `?${++unknownCounter}`;
}

/** Whether a dim is unknown (neither fixed nor a declared symbol). */
export function isUnknown(d: Dim): boolean {
  return typeof d === "string" && d.startsWith("?");
}

/** Whether two dims may be equal at run time. */
export function dimsCompatible(a: Dim, b: Dim): boolean {
  return a === b || isUnknown(a) || isUnknown(b) || typeof a !== typeof b;
}

/** Numpy-style broadcast of two shapes; throws when fixed dims disagree. */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === 1) out.push(db);
    else if (db === 1 || da === db) out.push(da);
    else if (typeof da === "number" && typeof db === "number") {
      throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    } else out.push(typeof da === "number" ? da : db);
  }
  return out;
}

/** Normalises a possibly negative axis for a given rank. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Product of fixed dims, or undefined when any is symbolic. */
export function fixedProduct(dims: readonly Dim[]): number | undefined {
  let p = 1;
  for (const d of dims) {
    if (typeof d !== "number") return undefined;
    p *= d;
  }
  return p;
}
