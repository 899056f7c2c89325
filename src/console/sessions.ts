/**
 * Logged-in sessions: a random token in an HttpOnly, SameSite=Strict cookie, kept in memory (a
 * console restart logs everyone out), expiring after a day idle.
 *
 * @module
 */
import type { Role } from "./users.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "adp_session";

/** Who a request is. */
export interface Session {
  /** The user's name. */
  user: string;
  /** What the user may do. */
  role: Role;
}

/** Options of {@linkcode SessionStore}. */
export interface SessionStoreOptions {
  /** Idle time after which a session ends. @default 86400000 */
  idleMs?: number;
  /** The clock. @default Date.now */
  now?: () => number;
}

/** Sessions by token. */
export class SessionStore {
  readonly #sessions = new Map<string, Session & { seen: number }>();
  readonly #idleMs: number;
  readonly #now: () => number;

  /** An empty store. */
  constructor(opts: SessionStoreOptions = {}) {
    this.#idleMs = opts.idleMs ?? 86_400_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Starts a session; returns its token. */
  open(session: Session): string {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const token = btoa(String.fromCharCode(...bytes)).replace(
      /[+/=]/g,
      (c) => ({ "+": "-", "/": "_" })[c] ?? "",
    );
    this.#sessions.set(token, { ...session, seen: this.#now() });
    return token;
  }

  /** The session of `token`, refreshed; undefined when unknown or expired. */
  get(token: string | undefined): Session | undefined {
    if (!token) return undefined;
    const s = this.#sessions.get(token);
    if (!s) return undefined;
    if (this.#now() - s.seen > this.#idleMs) {
      this.#sessions.delete(token);
      return undefined;
    }
    s.seen = this.#now();
    return { user: s.user, role: s.role };
  }

  /** Ends a session. */
  close(token: string | undefined): void {
    if (token) this.#sessions.delete(token);
  }
}

/** The value of cookie `name` in a `Cookie` header. */
export function readCookie(header: string | null, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
