/**
 * Access to the read-only `../shared` folder beside the checkout. Tests that need it call
 * `sharedPath()`; on a user's machine without it they are skipped with one line, but under CI
 * (`CI=true`) a missing `../shared` fails the run instead of silently skipping.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { join } from "node:path";

const SHARED_ROOT = fileURLToPath(new URL("../../shared/", import.meta.url));

/** Whether `../shared` exists; throws under CI when it does not. */
export function hasShared(): boolean {
  if (existsSync(SHARED_ROOT)) return true;
  if (Deno.env.get("CI") === "true") {
    throw new Error(`CI=true but the shared folder is missing: ${SHARED_ROOT}`);
  }
  console.warn(`skipping: ${SHARED_ROOT} is absent (conformance data lives there)`);
  return false;
}

/** Absolute path of a file under `../shared`. */
export function sharedPath(...parts: string[]): string {
  return join(SHARED_ROOT, ...parts);
}

/** `Deno.test` options that skip a conformance test when `../shared` is absent (never under CI). */
export const needsShared: { ignore: boolean } = { ignore: !hasShared() };
