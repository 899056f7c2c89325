/**
 * Debian's Chromium for the console's browser tests, driven by puppeteer-core (which never
 * downloads a browser). Where Chromium is absent the tests skip with one line; under CI
 * (`CI=true`) they fail instead.
 *
 * @module
 */
import { existsSync } from "node:fs";

const CANDIDATES = [Deno.env.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"];

/** The Chromium executable, or undefined (after one line of notice) when there is none. */
export function chromiumPath(): string | undefined {
  const found = CANDIDATES.find((p) => p && existsSync(p));
  if (found) return found;
  if (Deno.env.get("CI") === "true") {
    throw new Error("CI=true but Chromium is missing: apt-get install chromium (or set CHROMIUM_PATH)");
  }
  console.warn("skipping: the console's browser tests need Chromium (apt-get install chromium)");
  return undefined;
}

/** Flags for headless Chromium as root on a small shared machine. */
export const CHROMIUM_ARGS: string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--no-first-run",
  "--disable-extensions",
  "--mute-audio",
];
