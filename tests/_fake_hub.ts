/**
 * A local stand-in for the Hugging Face hub: LFS files answer the resolve URL with a 302 to a
 * separate "CDN" server (another origin) carrying X-Linked-Etag / X-Linked-Size / X-Repo-Commit;
 * small files answer 200 with their git blob sha1 as ETag, as huggingface.co does.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The commit every repository of the fake hub is at. */
export const COMMIT = "0123456789abcdef0123456789abcdef01234567";

/** A file the fake hub serves: LFS ones through the "CDN". */
export interface FakeFile {
  bytes: Uint8Array<ArrayBuffer>;
  lfs: boolean;
}

/** A repository of the fake hub. */
export interface FakeRepo {
  files: Record<string, FakeFile>;
  /** Requires this bearer token; without one the hub answers 401 GatedRepo, with another 403. */
  gatedToken?: string;
}

/** Faults the fake hub can inject. */
export interface Behaviour {
  /** CDN paths whose first GET sends half the body, then closes the connection. */
  breakOnce?: Set<string>;
  /** CDN paths whose first GET sends half the body, then stalls. */
  stallOnce?: Set<string>;
  /** Files served with one byte flipped. */
  corrupt?: Set<string>;
  /** The CDN ignores Range and always answers 200 with the whole file. */
  ignoreRange?: boolean;
}

/** One request the fake hub saw. */
export interface Logged {
  server: "hub" | "cdn";
  method: string;
  path: string;
  range: string | null;
  authorization: string | null;
}

/** The hub and its CDN on two loopback ports. */
export class FakeHub implements AsyncDisposable {
  readonly log: Logged[] = [];
  readonly behaviour: Behaviour = {};
  readonly #repos: Record<string, FakeRepo>;
  readonly #hub: Deno.HttpServer<Deno.NetAddr>;
  readonly #cdn: Deno.HttpServer<Deno.NetAddr>;
  readonly #served = new Map<string, number>();
  readonly #stalled: ReadableStreamDefaultController<Uint8Array>[] = [];

  constructor(repos: Record<string, FakeRepo>) {
    this.#repos = repos;
    const quiet = { hostname: "127.0.0.1", port: 0, onListen() {} };
    this.#hub = Deno.serve(quiet, (req) => this.#serveHub(req));
    this.#cdn = Deno.serve(quiet, (req) => this.#serveCdn(req));
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.#hub.addr.port}`;
  }

  cdnRequests(): Logged[] {
    return this.log.filter((l) => l.server === "cdn");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const c of this.#stalled) {
      try {
        c.close();
      } catch { /* the client already went away */ }
    }
    await Promise.all([this.#hub.shutdown(), this.#cdn.shutdown()]);
  }

  #record(server: Logged["server"], req: Request): URL {
    const url = new URL(req.url);
    this.log.push({
      server,
      method: req.method,
      path: decodeURIComponent(url.pathname),
      range: req.headers.get("range"),
      authorization: req.headers.get("authorization"),
    });
    return url;
  }

  #serveHub(req: Request): Response {
    const url = this.#record("hub", req);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api) {
      const repo = this.#repos[api[1]];
      if (!repo) return new Response(null, { status: 401, headers: { "x-error-code": "RepoNotFound" } });
      const siblings = Object.keys(repo.files).map((rfilename) => ({ rfilename }));
      return Response.json({ id: api[1], sha: COMMIT, siblings });
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) return new Response("no route", { status: 404 });
    const [, repoId, revision, encodedFile] = m;
    const repo = this.#repos[repoId];
    // The real hub hides whether a repository exists from anonymous callers.
    if (!repo) {
      return new Response(null, {
        status: req.headers.has("authorization") ? 404 : 401,
        headers: { "x-error-code": "RepoNotFound" },
      });
    }
    if (repo.gatedToken !== undefined) {
      const auth = req.headers.get("authorization");
      if (auth === null) return new Response(null, { status: 401, headers: { "x-error-code": "GatedRepo" } });
      if (auth !== `Bearer ${repo.gatedToken}`) {
        return new Response(null, { status: 403, headers: { "x-error-code": "GatedRepo" } });
      }
    }
    if (revision !== "main" && revision !== COMMIT) {
      return new Response(null, { status: 404, headers: { "x-error-code": "RevisionNotFound" } });
    }
    const file = decodeURIComponent(encodedFile);
    const entry = repo.files[file];
    if (!entry) return new Response(null, { status: 404, headers: { "x-error-code": "EntryNotFound" } });
    if (entry.lfs) {
      const sha = sha256(entry.bytes);
      const cdn = `http://127.0.0.1:${this.#cdn.addr.port}/blobs/${repoId}/${sha}`;
      return new Response(null, {
        status: 302,
        headers: {
          location: cdn,
          "x-linked-etag": `"${sha}"`,
          "x-linked-size": String(entry.bytes.byteLength),
          "x-repo-commit": COMMIT,
          // The pointer file's blob id, which a client must not mistake for the content's checksum.
          etag: `"${gitBlobSha1(new TextEncoder().encode(`pointer ${sha}`))}"`,
        },
      });
    }
    const headers = {
      etag: `"${gitBlobSha1(entry.bytes)}"`,
      "x-repo-commit": COMMIT,
      "content-length": String(entry.bytes.byteLength),
    };
    if (req.method === "HEAD") return new Response(null, { headers });
    return new Response(this.#maybeCorrupt(file, entry.bytes), { headers });
  }

  #serveCdn(req: Request): Response {
    const url = this.#record("cdn", req);
    const m = /^\/blobs\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/.exec(url.pathname);
    const repo = m ? this.#repos[m[1]] : undefined;
    const found = repo && Object.entries(repo.files).find(([, f]) => f.lfs && sha256(f.bytes) === m![2]);
    if (!found) return new Response("no blob", { status: 404 });
    const [file, entry] = found;
    const bytes = this.#maybeCorrupt(file, entry.bytes);
    const count = (this.#served.get(url.pathname) ?? 0) + 1;
    this.#served.set(url.pathname, count);

    const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
    const start = range && !this.behaviour.ignoreRange ? Number(range[1]) : 0;
    if (start >= bytes.byteLength && start > 0) return new Response(null, { status: 416 });
    const body = bytes.subarray(start);
    const headers: Record<string, string> = { "content-length": String(body.byteLength) };
    if (range && !this.behaviour.ignoreRange) {
      headers["content-range"] = `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}`;
    }
    const status = headers["content-range"] ? 206 : 200;
    const interrupt = count === 1 && this.behaviour.breakOnce?.has(url.pathname)
      ? "break"
      : count === 1 && this.behaviour.stallOnce?.has(url.pathname)
      ? "stall"
      : undefined;
    if (!interrupt) return new Response(body, { status, headers });

    const half = Math.floor(body.byteLength / 2);
    let step = 0;
    const stalled = this.#stalled;
    const stream = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (step++ === 0) return c.enqueue(body.slice(0, half));
        // Closing short of Content-Length makes the server drop the connection mid-body.
        await new Promise((r) => setTimeout(r, 20));
        if (interrupt === "break") c.close();
        else stalled.push(c);
      },
    });
    return new Response(stream, { status, headers });
  }

  #maybeCorrupt(file: string, bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
    if (!this.behaviour.corrupt?.has(file)) return bytes;
    const copy = bytes.slice();
    copy[Math.floor(copy.length / 3)] ^= 0x55;
    return copy;
  }
}

/** Hex sha256 of the bytes (an LFS file's checksum). */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Git's blob id of the bytes (a small file's ETag). */
export function gitBlobSha1(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.byteLength}\0`).update(bytes).digest("hex");
}

/** A small (non-LFS) text file. */
export function text(s: string): FakeFile {
  return { bytes: new TextEncoder().encode(s), lfs: false };
}
