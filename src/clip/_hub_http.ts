/**
 * Talking to the Hugging Face hub: one context per pull, requests with a time limit, retries of
 * what a retry may cure (network errors, 5xx, broken or stalled transfers), the hub's refusals as
 * {@linkcode DownloadError}s with the advice a user needs, and the response headers it reads.
 *
 * @module
 */
import { DownloadError } from "../errors.ts";

const CONTENT_RANGE_REGEXP = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

/** What every request of one pull needs: where, what, credentials, the retry policy. */
export interface HubContext {
  /** Hub base URL, without a trailing slash. */
  endpoint: string;
  /** Repository id, `owner/name`. */
  repo: string;
  /** Branch, tag or commit the files are resolved at. */
  revision: string;
  /** Access token, sent to the hub only. */
  token: string | undefined;
  /** The fetch to use. */
  fetch: typeof fetch;
  /** Retries of a transient failure. */
  retries: number;
  /** Pause before each retry. */
  retryDelayMs: number;
  /** A request or transfer silent this long is dropped. */
  stallTimeoutMs: number;
  /** Cancels the pull. */
  signal: AbortSignal | undefined;
}

/** Hub response headers read here, named once. */
export const HUB_HEADER = {
  linkedEtag: "x-linked-etag",
  linkedSize: "x-linked-size",
  repoCommit: "x-repo-commit",
  errorCode: "x-error-code",
  errorMessage: "x-error-message",
} as const;

/** A failure worth another attempt: network errors, 5xx, truncated or stalled transfers. */
export class Transient extends Error {
  /** The URL that failed. */
  readonly url: string;
  /** A transient failure of `url`. */
  constructor(message: string, url: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Transient";
    this.url = url;
  }
}

/** Runs `step` until it succeeds, retrying {@linkcode Transient} failures up to `ctx.retries` times. */
export async function retrying<T>(
  ctx: HubContext,
  what: string,
  step: (attempt: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await step(attempt);
    } catch (e) {
      if (!(e instanceof Transient)) throw e;
      if (attempt >= ctx.retries) {
        const tries = `${attempt + 1} ${attempt === 0 ? "try" : "tries"}`;
        throw new DownloadError(`${what} failed after ${tries}: ${e.message}`, {
          url: e.url,
          cause: e.cause ?? e,
        });
      }
      if (ctx.retryDelayMs > 0) await new Promise((r) => setTimeout(r, ctx.retryDelayMs));
      if (ctx.signal?.aborted) throw cancelled(ctx, e.url, ctx.signal.reason);
    }
  }
}

/** One request with a time limit; network failures, timeouts, 5xx, 408 and 429 become {@linkcode Transient}. */
export async function send(ctx: HubContext, url: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    // Transfers bring their own stall timer; anything else gets one overall limit.
    let signal = init.signal;
    if (!signal) {
      const limit = AbortSignal.timeout(ctx.stallTimeoutMs);
      signal = ctx.signal ? AbortSignal.any([ctx.signal, limit]) : limit;
    }
    res = await ctx.fetch(url, { ...init, signal });
  } catch (cause) {
    const host = new URL(url).host;
    if (ctx.signal?.aborted) throw cancelled(ctx, url, cause);
    if (init.signal?.aborted || cause instanceof DOMException && cause.name === "TimeoutError") {
      throw new Transient(`No answer from ${host} in time`, url, { cause });
    }
    throw new Transient(`Cannot reach ${host}: ${messageOf(cause)}`, url, { cause });
  }
  if (res.status >= 500 || res.status === 429 || res.status === 408) {
    await res.body?.cancel();
    throw new Transient(`HTTP ${res.status} ${res.statusText} from ${new URL(url).host}`, url);
  }
  return res;
}

/** The request headers for `url`: identity encoding, and the token only when `url` is the hub itself. */
export function hubHeaders(ctx: HubContext, url: string): Headers {
  // Identity keeps Content-Length and ETag about the stored bytes rather than a compressed form.
  const headers = new Headers({ "accept-encoding": "identity" });
  // The CDN's URLs are signed; a token sent there would only leak it to another host.
  if (ctx.token && new URL(url).origin === new URL(ctx.endpoint).origin) {
    headers.set("authorization", `Bearer ${ctx.token}`);
  }
  return headers;
}

/** Signed CDN links expire; the hub hands out a fresh one on the next attempt. */
export function isCdnRefusal(ctx: HubContext, res: Response, url: string): boolean {
  return (res.status === 403 || res.status === 410) && new URL(url).origin !== new URL(ctx.endpoint).origin;
}

/** The hub URL of `file` at the context's revision. */
export function resolveUrl(ctx: HubContext, file: string): string {
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${ctx.endpoint}/${ctx.repo}/resolve/${encodeURIComponent(ctx.revision)}/${path}`;
}

/** The hub's refusal of a request as a {@linkcode DownloadError} that says what to do about it. */
export function httpError(
  ctx: HubContext,
  res: Response,
  file: string | undefined,
  url: string,
): DownloadError {
  void res.body?.cancel();
  const code = res.headers.get(HUB_HEADER.errorCode);
  const serverMessage = res.headers.get(HUB_HEADER.errorMessage);
  const where = file ? `${file} in ${ctx.repo}` : ctx.repo;
  const page = `${ctx.endpoint}/${ctx.repo}`;
  let message: string;
  if (serverMessage === "Invalid credentials in Authorization header") {
    message = `The Hugging Face token was rejected: check HF_TOKEN (asked for ${where})`;
  } else if (code === "GatedRepo" || res.status === 403) {
    message = ctx.token
      ? `Access to ${ctx.repo} is refused for this token: the model is gated, accept its conditions at ${page} with the account that owns HF_TOKEN`
      : `Access to ${ctx.repo} is refused: the model is gated or private, set HF_TOKEN to a Hugging Face access token that can read it`;
  } else if (code === "RepoNotFound" || (res.status === 401 && !ctx.token)) {
    message = ctx.token
      ? `Repository not found on ${ctx.endpoint}: ${ctx.repo}`
      : `Repository not found on ${ctx.endpoint}: ${ctx.repo} (if it is private or gated, set HF_TOKEN)`;
  } else if (res.status === 401) {
    message = `The Hugging Face token was rejected: check HF_TOKEN (asked for ${where})`;
  } else if (code === "RevisionNotFound") {
    message = `Revision not found in ${ctx.repo}: ${ctx.revision}`;
  } else if (res.status === 404) {
    message = file
      ? `File not found in ${ctx.repo} at revision ${ctx.revision}: ${file}`
      : `Not found on ${ctx.endpoint}: ${ctx.repo} at revision ${ctx.revision}`;
  } else {
    message = `Download of ${where} failed: HTTP ${res.status} ${res.statusText}`.trimEnd();
  }
  return new DownloadError(message, { url });
}

/** The error of a pull cancelled through its signal. */
export function cancelled(ctx: HubContext, url: string, cause: unknown): DownloadError {
  return new DownloadError(`Download from ${ctx.repo} was cancelled: partial files are kept for resumption`, {
    url,
    cause,
  });
}

/** An ETag header's value without `W/` and quotes, lower-case. */
export function unquoteEtag(value: string | null): string | undefined {
  if (value === null) return undefined;
  return value.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1").toLowerCase();
}

/** A size header's value, when it is a plain number. */
export function parseSize(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

/** The first byte of a `Content-Range` header, -1 when there is none. */
export function parseContentRangeStart(value: string | null): number {
  const match = value === null ? null : CONTENT_RANGE_REGEXP.exec(value.trim());
  return match ? Number(match[1]) : -1;
}

/** The message of a thrown value. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
