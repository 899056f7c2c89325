/**
 * node-opcua-crypto sets `OPENSSL_CONF` to /dev/null around some key reads and then "restores" it by
 * assigning the saved value; when the variable was unset, that writes the string "undefined" into the
 * process environment, and every openssl started afterwards by the same process fails ("Can't open
 * 'undefined'"). Pinning the variable to OpenSSL's default file first makes the restore exact; a
 * stray "undefined" is removed as well.
 *
 * @module
 */

const DEFAULT_OPENSSL_CONF = ["/usr/lib/ssl/openssl.cnf", "/etc/ssl/openssl.cnf", "/etc/pki/tls/openssl.cnf"];

/**
 * Sets `OPENSSL_CONF` to OpenSSL's own default file when it is unset (same meaning, but restorable),
 * and removes a value of "undefined".
 *
 * @example
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { pinOpensslConf } from "./openssl_env.ts";
 * pinOpensslConf();
 * ok(Deno.env.get("OPENSSL_CONF") !== "undefined");
 * ```
 */
export function pinOpensslConf(): void {
  if (Deno.env.get("OPENSSL_CONF") === "undefined") Deno.env.delete("OPENSSL_CONF");
  if (Deno.env.get("OPENSSL_CONF") !== undefined) return;
  for (const file of DEFAULT_OPENSSL_CONF) {
    try {
      if (Deno.statSync(file).isFile) {
        Deno.env.set("OPENSSL_CONF", file);
        return;
      }
    } catch {
      // not here: try the next
    }
  }
}
