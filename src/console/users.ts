/**
 * Console users: who may log in, with which role, checked against a salted scrypt hash. Users come
 * from a file or the `ADP_CONSOLE_USERS` variable, one `name:role:hash` a line (or comma-separated);
 * the hash is what {@linkcode hashPassword} prints (`adp console --hash-password`).
 *
 * @module
 */
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import { ConfigError } from "../errors.ts";

/** What a user may do: viewers watch, operators also tune, teach and label. */
export const Role = {
  viewer: "viewer",
  operator: "operator",
} as const;

/** One of {@linkcode Role}'s values. */
export type Role = typeof Role[keyof typeof Role];

/** A user as the console knows it. */
export interface ConsoleUser {
  /** The login name. */
  name: string;
  /** What the user may do. */
  role: Role;
  /** `scrypt$<N>$<salt base64>$<hash base64>` */
  hash: string;
}

const SCRYPT_N = 16384;
const KEY_BYTES = 32;
const USER_NAME_REGEXP = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * Hashes a password with scrypt and a random salt.
 *
 * @param password the password
 * @returns `scrypt$N$salt$hash`, for a users file
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const hash = hashPassword("s3cret");
 * strictEqual(verifyPassword("s3cret", hash), true);
 * strictEqual(verifyPassword("guess", hash), false);
 * ```
 */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, KEY_BYTES, { N: SCRYPT_N });
  return `scrypt$${SCRYPT_N}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/**
 * Whether `password` matches `hash` (constant time in the hash's length).
 *
 * @param password what was typed
 * @param hash a {@linkcode hashPassword} result
 * @returns true when it matches; false for a wrong password or a malformed hash
 */
export function verifyPassword(password: string, hash: string): boolean {
  const [kind, n, salt, key] = hash.split("$");
  if (kind !== "scrypt" || !salt || !key || !/^\d+$/.test(n)) return false;
  const expected = Buffer.from(key, "base64");
  const N = Number(n);
  if (expected.length < 16 || N < 1024 || N > 1 << 20) return false;
  const actual = scryptSync(password, Buffer.from(salt, "base64"), expected.length, {
    N,
    maxmem: 256 * N * 8,
  });
  return timingSafeEqual(actual, expected);
}

/**
 * Reads `name:role:hash` entries, one a line or comma-separated; blank lines and `#` comments pass.
 *
 * @param text the entries
 * @param source where they came from, for errors
 * @returns the users, by name
 * @throws {ConfigError} naming the bad entry
 */
export function parseUsers(text: string, source: string): Map<string, ConsoleUser> {
  const users = new Map<string, ConsoleUser>();
  const entries = text.split(/[\n,]/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  for (const [i, entry] of entries.entries()) {
    const [name, role, ...rest] = entry.split(":");
    const hash = rest.join(":");
    if (!USER_NAME_REGEXP.test(name ?? "")) {
      throw new ConfigError(`${source}: entry ${i + 1} has no valid user name (name:role:hash)`);
    }
    if (role !== Role.viewer && role !== Role.operator) {
      throw new ConfigError(
        `${source}: user ${name} has role ${JSON.stringify(role)}: use viewer or operator`,
      );
    }
    if (!hash.startsWith("scrypt$")) {
      throw new ConfigError(
        `${source}: user ${name} has no scrypt hash (make one with adp console --hash-password)`,
      );
    }
    users.set(name, { name, role, hash });
  }
  return users;
}

/**
 * The users of a file and of `ADP_CONSOLE_USERS` (the file's entries win on a name in both).
 *
 * @param opts the file, and the environment value
 * @returns the users, by name (possibly none)
 * @throws {ConfigError} for a malformed entry
 */
export async function loadUsers(opts: { file?: string; env?: string }): Promise<Map<string, ConsoleUser>> {
  const users = opts.env ? parseUsers(opts.env, "ADP_CONSOLE_USERS") : new Map<string, ConsoleUser>();
  if (opts.file) {
    for (const [name, user] of parseUsers(await Deno.readTextFile(opts.file), opts.file)) {
      users.set(name, user);
    }
  }
  return users;
}
