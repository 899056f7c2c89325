/**
 * A temporary folder for one test, removed with everything in it when the test's scope ends
 * (`await using`), however the test ends.
 *
 * @module
 */

/** A temporary folder; `path` is absolute. */
export async function tempDir(prefix = "adp-test-"): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}
