/**
 * Downloads checkpoints from the Hugging Face hub the way `huggingface_hub` does, for users who are
 * online: resolve each file with a HEAD request (LFS files answer with a redirect to a CDN and carry
 * the content's sha256 in `X-Linked-Etag`; small files carry their git blob sha1 in `ETag`), download
 * into `<file>.part` with resumption by `Range`, verify the checksum, then rename into place.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, isAbsolute, join } from "node:path";
import { DownloadError, ErrorCode } from "../errors.ts";
import type { CheckpointLayout } from "./config_parse.ts";
import { findPretrained, listPretrained, pretrainedFiles } from "./pretrained.ts";

/** Where files are fetched from unless `HF_ENDPOINT` or `endpoint` says otherwise. */
export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

/** Hub response headers read here, named once. */
const HUB_HEADER = {
  linkedEtag: "x-linked-etag",
  linkedSize: "x-linked-size",
  repoCommit: "x-repo-commit",
  errorCode: "x-error-code",
  errorMessage: "x-error-message",
} as const;

const PART_SUFFIX = ".part";
const MAX_HUB_REDIRECTS = 5;
const READ_CHUNK = 1 << 20;
const PROGRESS_INTERVAL_MS = 100;
const SHA256_REGEXP = /^[0-9a-f]{64}$/;
const SHA1_REGEXP = /^[0-9a-f]{40}$/;
const REPO_ID_REGEXP = /^[A-Za-z0-9][\w.-]{0,95}\/[\w.-]{1,96}$/;
const CONTENT_RANGE_REGEXP = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

/** One progress report for one file. */
export interface PullProgress {
  /** The file's path inside the repository. */
  readonly file: string;
  /**
   * Bytes of the file on disk so far, resumed bytes included. It drops only when the file starts
   * over: a server ignored a `Range` request, or a resumed file failed its checksum.
   */
  readonly received: number;
  /** The file's size, when the hub told it. */
  readonly total: number | undefined;
  /** Mean rate of this call's transfer of the file; 0 before the first bytes. */
  readonly bytesPerSecond: number;
}

/** How a pulled file was verified. */
export interface FileChecksum {
  /** `sha256` of the content for LFS files; `git-sha1` = sha1 of `"blob <size>\0" + content` for others. */
  readonly kind: "sha256" | "git-sha1";
  /** Lower-case hex digest. */
  readonly hex: string;
}

/** A file that is now in place and verified. */
export interface PulledFile {
  /** Path inside the repository. */
  readonly file: string;
  /** Where it lies on disk. */
  readonly path: string;
  readonly size: number;
  readonly checksum: FileChecksum;
  /** True when the file was already present with the right checksum and nothing was downloaded. */
  readonly skipped: boolean;
}

/** What `pullModel` fetched. */
export interface PullResult {
  /** Hub repository id. */
  readonly repo: string;
  /** The revision asked for. */
  readonly revision: string;
  /** The commit that revision resolved to (`X-Repo-Commit`), when the hub said. */
  readonly commit: string | undefined;
  /** The layout of the checkpoint, when known from the registry or the repository's file names. */
  readonly layout: CheckpointLayout | undefined;
  /** The destination folder. */
  readonly dir: string;
  readonly files: readonly PulledFile[];
}

/** Options of {@linkcode pullModel}. */
export interface PullOptions {
  /**
   * Hub base URL, e.g. a mirror.
   * @default {Deno.env HF_ENDPOINT, else "https://huggingface.co"}
   */
  endpoint?: string;
  /**
   * Branch, tag or commit id.
   * @default {the registry entry's revision, else "main"}
   */
  revision?: string;
  /**
   * Access token for gated or private repositories; `false` sends none even when `HF_TOKEN` is set.
   * It is sent to the hub only, never to the CDN the hub redirects to.
   * @default {Deno.env HF_TOKEN}
   */
  token?: string | false;
  /**
   * Repository paths to fetch.
   * @default {the registry entry's files, else the safetensors checkpoint found in the repository}
   */
  files?: readonly string[];
  /** Called as bytes arrive (at most every 100 ms per file, plus once when a file is complete). */
  onProgress?: (progress: PullProgress) => void;
  /**
   * The fetch to use (tests, proxies).
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * How often a failed request or broken transfer is retried, resuming where it stopped.
   * @default {5}
   */
  retries?: number;
  /**
   * Pause before each retry.
   * @default {1000}
   */
  retryDelayMs?: number;
  /**
   * A transfer that delivers no bytes for this long is dropped and retried.
   * @default {60000}
   */
  stallTimeoutMs?: number;
  /** Cancels the pull; a partial `.part` file is kept for the next attempt. */
  signal?: AbortSignal;
}

/**
 * Downloads a checkpoint's files from the Hugging Face hub into `destDir`, verified.
 *
 * `nameOrRepo` is a registry name (`ViT-B-16:openai`, see `pretrained.ts`) or a hub repository id
 * (`owner/name`). Files already present with the right checksum are skipped; a `<file>.part` left by
 * an interrupted pull is resumed with a `Range` request. Each file is checked against the hub's
 * sha256 (LFS) or git blob sha1 (other files) before it is renamed into place, so a file at its final
 * path is always complete. After the first file, the rest are fetched at the commit it resolved to,
 * so a push to the branch mid-pull cannot mix two versions.
 *
 * @param nameOrRepo registry name or `owner/name`
 * @param destDir folder to put the files in (created when missing)
 * @param opts endpoint, revision, token, files, progress callback, retry policy
 * @returns the repository, resolved commit and verified files
 * @throws {DownloadError} `WEIGHTS_CHECKSUM` when a download does not match the hub's checksum,
 *   `USAGE` for an unknown name or an unsafe file path, `DOWNLOAD_FAILED` for HTTP and network failures
 *
 * @example Pulling OpenAI's ViT-B/16 into models/
 * ```ts ignore
 * import { pullModel } from "./hub_download.ts";
 *
 * const result = await pullModel("ViT-B-16:openai", "models/ViT-B-16-openai", {
 *   onProgress: (p) => console.log(p.file, p.received, p.total),
 * });
 * console.log(`pulled ${result.repo} at ${result.commit}`);
 * ```
 */
export async function pullModel(
  nameOrRepo: string,
  destDir: string,
  opts: PullOptions = {},
): Promise<PullResult> {
  const entry = findPretrained(nameOrRepo);
  const endpoint = (opts.endpoint ?? _env("HF_ENDPOINT") ?? DEFAULT_HF_ENDPOINT).replace(/\/+$/, "");
  const repo = entry?.repo ?? nameOrRepo;
  if (!entry && !REPO_ID_REGEXP.test(repo)) {
    const known = _knownNames();
    throw new DownloadError(
      `Unknown model: ${nameOrRepo}: give a registry name (${known}) or a Hugging Face repository id such as owner/name`,
      { url: endpoint, code: ErrorCode.USAGE },
    );
  }
  const ctx: _Context = {
    endpoint,
    repo,
    revision: opts.revision ?? entry?.revision ?? "main",
    token: opts.token === false ? undefined : (opts.token ?? _env("HF_TOKEN")),
    fetch: opts.fetch ?? globalThis.fetch,
    onProgress: opts.onProgress,
    retries: Math.max(0, opts.retries ?? 5),
    retryDelayMs: Math.max(0, opts.retryDelayMs ?? 1000),
    stallTimeoutMs: Math.max(1, opts.stallTimeoutMs ?? 60_000),
    signal: opts.signal,
  };

  let files = opts.files ? [...opts.files] : entry ? pretrainedFiles(entry) : undefined;
  let layout = entry?.layout;
  let pinned: string | undefined;
  if (!files) {
    const listing = await _retrying(ctx, `Listing ${repo}`, () => _listRepo(ctx));
    ({ files, layout } = listing);
    pinned = listing.commit;
  }
  for (const file of files) _checkRelativePath(file, ctx);

  await Deno.mkdir(destDir, { recursive: true });
  const pulled: PulledFile[] = [];
  let commit = pinned;
  for (const file of files) {
    const result = await _pullFile({ ...ctx, revision: pinned ?? ctx.revision }, file, destDir);
    pulled.push(result.file);
    commit ??= result.commit;
    pinned ??= result.commit !== undefined && SHA1_REGEXP.test(result.commit) ? result.commit : undefined;
  }
  return { repo, revision: ctx.revision, commit, layout, dir: destDir, files: pulled };
}

interface _Context {
  endpoint: string;
  repo: string;
  revision: string;
  token: string | undefined;
  fetch: typeof fetch;
  onProgress: ((p: PullProgress) => void) | undefined;
  retries: number;
  retryDelayMs: number;
  stallTimeoutMs: number;
  signal: AbortSignal | undefined;
}

/** What a HEAD request on `resolve/` told about one file. */
interface _Remote {
  /** Where the bytes are: the CDN for LFS files, the hub itself for others. */
  location: string;
  expected: FileChecksum;
  size: number | undefined;
  commit: string | undefined;
}

/** A failure worth another attempt: network errors, 5xx, truncated or stalled transfers. */
class _Transient extends Error {
  readonly url: string;
  constructor(message: string, url: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "_Transient";
    this.url = url;
  }
}

async function _pullFile(
  ctx: _Context,
  file: string,
  destDir: string,
): Promise<{ file: PulledFile; commit: string | undefined }> {
  const dest = join(destDir, file);
  const part = dest + PART_SUFFIX;
  let remote = await _retrying(ctx, `Resolving ${file}`, () => _resolve(ctx, file));
  await Deno.mkdir(dirname(dest), { recursive: true });

  const present = await _sizeOf(dest);
  if (present !== undefined && (remote.size === undefined || present === remote.size)) {
    const hex = await _fileChecksum(dest, remote.expected.kind, present);
    if (hex === remote.expected.hex) {
      _report(ctx, { file, received: present, total: present, bytesPerSecond: 0 });
      return {
        file: { file, path: dest, size: present, checksum: remote.expected, skipped: true },
        commit: remote.commit,
      };
    }
  }

  const progress = _progressReporter(ctx, file);
  for (let fresh = false;; fresh = true) {
    let resumed = false;
    await _retrying(ctx, `Downloading ${file}`, async (attempt) => {
      if (attempt > 0) {
        // A signed CDN URL may have expired meanwhile; ask the hub again.
        const again = await _resolve(ctx, file);
        if (again.expected.hex !== remote.expected.hex) await _removeIfPresent(part);
        remote = again;
      }
      resumed = (await _download(ctx, remote, part, file, progress)) || resumed;
    });
    const size = (await _sizeOf(part)) ?? 0;
    const hex = await _fileChecksum(part, remote.expected.kind, size);
    if (hex === remote.expected.hex && (remote.size === undefined || size === remote.size)) {
      progress.done(size);
      await Deno.rename(part, dest);
      return {
        file: { file, path: dest, size, checksum: remote.expected, skipped: false },
        commit: remote.commit,
      };
    }
    await _removeIfPresent(part);
    // A resumed prefix may come from an older version of the file; one clean download settles it.
    if (resumed && !fresh) continue;
    throw new DownloadError(
      `Checksum mismatch for ${file} from ${ctx.repo}: expected ${remote.expected.kind} ${remote.expected.hex}, got ${hex} over ${size} bytes`,
      { url: remote.location, code: ErrorCode.WEIGHTS_CHECKSUM },
    );
  }
}

/** HEAD `resolve/<revision>/<file>`, following the hub's own (same-origin) redirects only. */
async function _resolve(ctx: _Context, file: string): Promise<_Remote> {
  let url = _resolveUrl(ctx, file);
  for (let hop = 0; hop <= MAX_HUB_REDIRECTS; hop++) {
    const res = await _send(ctx, url, { method: "HEAD", redirect: "manual", headers: _headers(ctx, url) });
    await res.body?.cancel();
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location) {
      const next = new URL(location, url).href;
      // A renamed repository redirects within the hub and carries no file metadata yet.
      if (!res.headers.has(HUB_HEADER.linkedEtag) && new URL(next).origin === new URL(url).origin) {
        url = next;
        continue;
      }
      return _remoteFrom(ctx, file, res, next);
    }
    if (res.ok) return _remoteFrom(ctx, file, res, url);
    throw _httpError(ctx, res, file, url);
  }
  throw new DownloadError(`Too many redirects resolving ${file} in ${ctx.repo}: last at ${url}`, { url });
}

function _remoteFrom(ctx: _Context, file: string, res: Response, location: string): _Remote {
  const linked = _unquoteEtag(res.headers.get(HUB_HEADER.linkedEtag));
  const etag = linked ?? _unquoteEtag(res.headers.get("etag"));
  let expected: FileChecksum | undefined;
  if (etag !== undefined && SHA256_REGEXP.test(etag)) expected = { kind: "sha256", hex: etag };
  else if (!linked && etag !== undefined && SHA1_REGEXP.test(etag)) {
    expected = { kind: "git-sha1", hex: etag };
  }
  if (!expected) {
    throw new DownloadError(
      `Cannot verify ${file} from ${ctx.repo}: the server sent no sha256 or git blob checksum (ETag ${
        etag ?? "absent"
      })`,
      { url: location },
    );
  }
  const size = _parseSize(res.headers.get(HUB_HEADER.linkedSize) ?? res.headers.get("content-length"));
  return { location, expected, size, commit: res.headers.get(HUB_HEADER.repoCommit) ?? undefined };
}

/**
 * Appends the missing bytes of one file to `part`. Returns whether it resumed from existing bytes.
 * Throws `_Transient` for anything a retry may cure.
 */
async function _download(
  ctx: _Context,
  remote: _Remote,
  part: string,
  file: string,
  progress: _ProgressReporter,
): Promise<boolean> {
  let offset = (await _sizeOf(part)) ?? 0;
  if (remote.size !== undefined && offset > remote.size) {
    await Deno.remove(part);
    offset = 0;
  }
  if (remote.size !== undefined && offset === remote.size) return offset > 0;

  const url = remote.location;
  const headers = _headers(ctx, url);
  if (offset > 0) headers.set("range", `bytes=${offset}-`);
  const stall = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, stall.signal]) : stall.signal;
  let timer = setTimeout(() => stall.abort(), ctx.stallTimeoutMs);
  try {
    const res = await _send(ctx, url, { headers, signal, redirect: "follow" });
    let start: number;
    if (res.status === 206) {
      start = _parseContentRangeStart(res.headers.get("content-range"));
      if (start !== offset) {
        await res.body?.cancel();
        await _removeIfPresent(part);
        throw new _Transient(`Server answered bytes from ${start} when asked from ${offset}`, url);
      }
    } else if (res.ok) {
      start = 0; // the server ignored Range: start over
    } else if (res.status === 416) {
      await res.body?.cancel();
      await _removeIfPresent(part);
      throw new _Transient(`Server refused to resume ${file} at byte ${offset}`, url);
    } else if (_isCdnRefusal(ctx, res, url)) {
      await res.body?.cancel();
      throw new _Transient(`The download server refused ${file}: HTTP ${res.status}`, url);
    } else {
      throw _httpError(ctx, res, file, url);
    }

    using out = await Deno.open(part, {
      write: true,
      create: true,
      append: start > 0,
      truncate: start === 0,
    });
    let received = start;
    progress.begin(start, remote.size);
    if (res.body) {
      try {
        for await (const chunk of res.body) {
          clearTimeout(timer);
          timer = setTimeout(() => stall.abort(), ctx.stallTimeoutMs);
          await _writeAll(out, chunk);
          received += chunk.byteLength;
          progress.update(received);
        }
      } catch (cause) {
        if (ctx.signal?.aborted) throw _cancelled(ctx, url, cause);
        const why = stall.signal.aborted ? `no data for ${ctx.stallTimeoutMs} ms` : _message(cause);
        throw new _Transient(`Transfer of ${file} broke off at byte ${received}: ${why}`, url, { cause });
      }
    }
    await out.syncData();
    if (remote.size !== undefined && received < remote.size) {
      throw new _Transient(`Transfer of ${file} ended early: ${received} of ${remote.size} bytes`, url);
    }
    return start > 0;
  } finally {
    clearTimeout(timer);
  }
}

/** Lists a repository through the hub API and picks its safetensors checkpoint and tokenizer. */
async function _listRepo(
  ctx: _Context,
): Promise<{ files: string[]; layout: CheckpointLayout; commit: string | undefined }> {
  const url = `${ctx.endpoint}/api/models/${ctx.repo}/revision/${encodeURIComponent(ctx.revision)}`;
  const res = await _send(ctx, url, { headers: _headers(ctx, url) });
  if (!res.ok) throw _httpError(ctx, res, undefined, url);
  let info: { sha?: unknown; siblings?: { rfilename?: unknown }[] };
  try {
    info = await res.json();
  } catch (cause) {
    throw new DownloadError(`Unexpected answer listing ${ctx.repo}: ${_message(cause)}`, { url, cause });
  }
  const names = new Set(
    (info.siblings ?? []).map((s) => s.rfilename).filter((n): n is string => typeof n === "string"),
  );
  let files: string[];
  let layout: CheckpointLayout;
  if (names.has("open_clip_model.safetensors") && names.has("open_clip_config.json")) {
    files = ["open_clip_model.safetensors", "open_clip_config.json"];
    layout = "openclip";
  } else if (names.has("model.safetensors") && names.has("config.json")) {
    files = ["model.safetensors", "config.json"];
    layout = "hf";
  } else {
    throw new DownloadError(
      `No safetensors CLIP checkpoint in ${ctx.repo} at ${ctx.revision}: expected open_clip_model.safetensors with open_clip_config.json, or model.safetensors with config.json`,
      { url },
    );
  }
  if (names.has("vocab.json") && names.has("merges.txt")) files.push("vocab.json", "merges.txt");
  else if (names.has("bpe_simple_vocab_16e6.txt.gz")) files.push("bpe_simple_vocab_16e6.txt.gz");
  const commit = typeof info.sha === "string" ? info.sha : undefined;
  return { files, layout, commit };
}

async function _retrying<T>(ctx: _Context, what: string, step: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await step(attempt);
    } catch (e) {
      if (!(e instanceof _Transient)) throw e;
      if (attempt >= ctx.retries) {
        const tries = `${attempt + 1} ${attempt === 0 ? "try" : "tries"}`;
        throw new DownloadError(`${what} failed after ${tries}: ${e.message}`, {
          url: e.url,
          cause: e.cause ?? e,
        });
      }
      if (ctx.retryDelayMs > 0) await new Promise((r) => setTimeout(r, ctx.retryDelayMs));
      if (ctx.signal?.aborted) throw _cancelled(ctx, e.url, ctx.signal.reason);
    }
  }
}

async function _send(ctx: _Context, url: string, init: RequestInit): Promise<Response> {
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
    if (ctx.signal?.aborted) throw _cancelled(ctx, url, cause);
    if (init.signal?.aborted || cause instanceof DOMException && cause.name === "TimeoutError") {
      throw new _Transient(`No answer from ${host} in time`, url, { cause });
    }
    throw new _Transient(`Cannot reach ${host}: ${_message(cause)}`, url, { cause });
  }
  if (res.status >= 500 || res.status === 429 || res.status === 408) {
    await res.body?.cancel();
    throw new _Transient(`HTTP ${res.status} ${res.statusText} from ${new URL(url).host}`, url);
  }
  return res;
}

function _headers(ctx: _Context, url: string): Headers {
  // Identity keeps Content-Length and ETag about the stored bytes rather than a compressed form.
  const headers = new Headers({ "accept-encoding": "identity" });
  // The CDN's URLs are signed; a token sent there would only leak it to another host.
  if (ctx.token && new URL(url).origin === new URL(ctx.endpoint).origin) {
    headers.set("authorization", `Bearer ${ctx.token}`);
  }
  return headers;
}

/** Signed CDN links expire; the hub hands out a fresh one on the next attempt. */
function _isCdnRefusal(ctx: _Context, res: Response, url: string): boolean {
  return (res.status === 403 || res.status === 410) && new URL(url).origin !== new URL(ctx.endpoint).origin;
}

function _resolveUrl(ctx: _Context, file: string): string {
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${ctx.endpoint}/${ctx.repo}/resolve/${encodeURIComponent(ctx.revision)}/${path}`;
}

function _httpError(ctx: _Context, res: Response, file: string | undefined, url: string): DownloadError {
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

function _cancelled(ctx: _Context, url: string, cause: unknown): DownloadError {
  return new DownloadError(`Download from ${ctx.repo} was cancelled: partial files are kept for resumption`, {
    url,
    cause,
  });
}

interface _ProgressReporter {
  begin(start: number, total: number | undefined): void;
  update(received: number): void;
  done(size: number): void;
}

function _progressReporter(ctx: _Context, file: string): _ProgressReporter {
  let total: number | undefined;
  let received = 0;
  let transferred = 0;
  let lastReceived = 0;
  let startedAt: number | undefined;
  let lastReport = -Infinity;
  const rate = () => {
    const seconds = startedAt === undefined ? 0 : (performance.now() - startedAt) / 1000;
    return seconds > 0 ? transferred / seconds : 0;
  };
  return {
    begin(start, size) {
      total = size;
      received = lastReceived = start;
      startedAt ??= performance.now();
      lastReport = performance.now();
      _report(ctx, { file, received, total, bytesPerSecond: rate() });
    },
    update(now) {
      transferred += now - lastReceived;
      received = lastReceived = now;
      if (performance.now() - lastReport < PROGRESS_INTERVAL_MS) return;
      lastReport = performance.now();
      _report(ctx, { file, received, total, bytesPerSecond: rate() });
    },
    done(size) {
      _report(ctx, { file, received: size, total: total ?? size, bytesPerSecond: rate() });
    },
  };
}

function _report(ctx: _Context, progress: PullProgress): void {
  ctx.onProgress?.(progress);
}

async function _fileChecksum(path: string, kind: FileChecksum["kind"], size: number): Promise<string> {
  const hash = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git-sha1") hash.update(`blob ${size}\0`);
  using f = await Deno.open(path, { read: true });
  const buf = new Uint8Array(READ_CHUNK);
  for (;;) {
    const n = await f.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

async function _writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  for (let written = 0; written < data.byteLength;) {
    written += await file.write(data.subarray(written));
  }
}

async function _sizeOf(path: string): Promise<number | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.isFile ? info.size : undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

async function _removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function _checkRelativePath(file: string, ctx: _Context): void {
  const parts = file.split("/");
  if (
    !file || isAbsolute(file) || file.includes("\\") || parts.some((p) => p === "" || p === "." || p === "..")
  ) {
    throw new DownloadError(`Unsafe file path for ${ctx.repo}: ${JSON.stringify(file)}`, {
      url: `${ctx.endpoint}/${ctx.repo}`,
      code: ErrorCode.USAGE,
    });
  }
}

function _unquoteEtag(value: string | null): string | undefined {
  if (value === null) return undefined;
  return value.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1").toLowerCase();
}

function _parseSize(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

function _parseContentRangeStart(value: string | null): number {
  const match = value === null ? null : CONTENT_RANGE_REGEXP.exec(value.trim());
  return match ? Number(match[1]) : -1;
}

function _env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    // Without --allow-env the defaults apply, as when the variable is unset.
    return undefined;
  }
}

function _message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function _knownNames(): string {
  return listPretrained().map((m) => m.name).join(", ");
}
