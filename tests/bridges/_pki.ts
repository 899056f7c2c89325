/**
 * One OPC UA certificate store per test process: a fresh store costs seconds of RSA key generation
 * for the server's and the client's certificates, so the OPC UA tests of one file share it. It is
 * removed when the process ends.
 *
 * @module
 */
import { join } from "node:path";

let dir: string | undefined;

/** The shared store's folder for `who` ("server", "client"). */
export function sharedPki(who: string): string {
  if (!dir) {
    const created = Deno.makeTempDirSync({ prefix: "adp-opcua-pki-" });
    dir = created;
    globalThis.addEventListener("unload", () => Deno.removeSync(created, { recursive: true }));
  }
  return join(dir, who);
}
