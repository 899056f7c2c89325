/**
 * Downloads checkpoints from the Hugging Face hub the way `huggingface_hub` does, for users who are
 * online: resolve each file with a HEAD request (LFS files answer with a redirect to a CDN and carry
 * the content's sha256 in `X-Linked-Etag`; small files carry their git blob sha1 in `ETag`), download
 * into `<file>.part` with resumption by `Range`, verify the checksum, then rename into place.
 *
 * @module
 */
import { dirname, isAbsolute, join } from "node:path";
import { DownloadError, ErrorCode } from "../errors.ts";
import type { CheckpointLayout } from "./checkpoint_layout.ts";
import { findPretrained, listPretrained, pretrainedFiles } from "./pretrained.ts";
import { fileChecksum, removeIfPresent, sizeOf, writeAll } from "./_download_files.ts";
import {
  cancelled,
  httpError,
  HUB_HEADER,
  type HubContext,
  hubHeaders,
  isCdnRefusal,
  messageOf,
  parseContentRangeStart,
  parseSize,
  resolveUrl,
  retrying,
  send,
  Transient,
  unquoteEtag,
} from "./_hub_http.ts";

/** Where files are fetched from unless `HF_ENDPOINT` or `endpoint` says otherwise. */
/** Where files are fetched from unless `HF_ENDPOINT` or `endpoint` says otherwise. */
export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

const PART_SUFFIX = ".part";
const MAX_HUB_REDIRECTS = 5;
const PROGRESS_INTERVAL_MS = 100;
const SHA256_REGEXP = /^[0-9a-f]{64}$/;
const SHA1_REGEXP = /^[0-9a-f]{40}$/;
const REPO_ID_REGEXP = /^[A-Za-z0-9][\w.-]{0,95}\/[\w.-]{1,96}$/;

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
  /** Bytes. */
  readonly size: number;
  /** The checksum it was verified against. */
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
  /** Every file, verified, in the order pulled. */
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
    const listing = await retrying(ctx, `Listing ${repo}`, () => _listRepo(ctx));
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

interface _Context extends HubContext {
  onProgress: ((p: PullProgress) => void) | undefined;
}

/** What a HEAD request on `resolve/` told about one file. */
interface _Remote {
  /** Where the bytes are: the CDN for LFS files, the hub itself for others. */
  location: string;
  expected: FileChecksum;
  size: number | undefined;
  commit: string | undefined;
}

async function _pullFile(
  ctx: _Context,
  file: string,
  destDir: string,
): Promise<{ file: PulledFile; commit: string | undefined }> {
  const dest = join(destDir, file);
  const part = dest + PART_SUFFIX;
  let remote = await retrying(ctx, `Resolving ${file}`, () => _resolve(ctx, file));
  await Deno.mkdir(dirname(dest), { recursive: true });

  const present = await sizeOf(dest);
  if (present !== undefined && (remote.size === undefined || present === remote.size)) {
    const hex = await fileChecksum(dest, remote.expected.kind, present);
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
    await retrying(ctx, `Downloading ${file}`, async (attempt) => {
      if (attempt > 0) {
        // A signed CDN URL may have expired meanwhile; ask the hub again.
        const again = await _resolve(ctx, file);
        if (again.expected.hex !== remote.expected.hex) await removeIfPresent(part);
        remote = again;
      }
      resumed = (await _download(ctx, remote, part, file, progress)) || resumed;
    });
    const size = (await sizeOf(part)) ?? 0;
    const hex = await fileChecksum(part, remote.expected.kind, size);
    if (hex === remote.expected.hex && (remote.size === undefined || size === remote.size)) {
      progress.done(size);
      await Deno.rename(part, dest);
      return {
        file: { file, path: dest, size, checksum: remote.expected, skipped: false },
        commit: remote.commit,
      };
    }
    await removeIfPresent(part);
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
  let url = resolveUrl(ctx, file);
  for (let hop = 0; hop <= MAX_HUB_REDIRECTS; hop++) {
    const res = await send(ctx, url, { method: "HEAD", redirect: "manual", headers: hubHeaders(ctx, url) });
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
    throw httpError(ctx, res, file, url);
  }
  throw new DownloadError(`Too many redirects resolving ${file} in ${ctx.repo}: last at ${url}`, { url });
}

function _remoteFrom(ctx: _Context, file: string, res: Response, location: string): _Remote {
  const linked = unquoteEtag(res.headers.get(HUB_HEADER.linkedEtag));
  const etag = linked ?? unquoteEtag(res.headers.get("etag"));
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
  const size = parseSize(res.headers.get(HUB_HEADER.linkedSize) ?? res.headers.get("content-length"));
  return { location, expected, size, commit: res.headers.get(HUB_HEADER.repoCommit) ?? undefined };
}

/**
 * Appends the missing bytes of one file to `part`. Returns whether it resumed from existing bytes.
 * Throws `Transient` for anything a retry may cure.
 */
async function _download(
  ctx: _Context,
  remote: _Remote,
  part: string,
  file: string,
  progress: _ProgressReporter,
): Promise<boolean> {
  let offset = (await sizeOf(part)) ?? 0;
  if (remote.size !== undefined && offset > remote.size) {
    await Deno.remove(part);
    offset = 0;
  }
  if (remote.size !== undefined && offset === remote.size) return offset > 0;

  const url = remote.location;
  const headers = hubHeaders(ctx, url);
  if (offset > 0) headers.set("range", `bytes=${offset}-`);
  const stall = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, stall.signal]) : stall.signal;
  let timer = setTimeout(() => stall.abort(), ctx.stallTimeoutMs);
  try {
    const res = await send(ctx, url, { headers, signal, redirect: "follow" });
    let start: number;
    if (res.status === 206) {
      start = parseContentRangeStart(res.headers.get("content-range"));
      if (start !== offset) {
        await res.body?.cancel();
        await removeIfPresent(part);
        throw new Transient(`Server answered bytes from ${start} when asked from ${offset}`, url);
      }
    } else if (res.ok) {
      start = 0; // the server ignored Range: start over
    } else if (res.status === 416) {
      await res.body?.cancel();
      await removeIfPresent(part);
      throw new Transient(`Server refused to resume ${file} at byte ${offset}`, url);
    } else if (isCdnRefusal(ctx, res, url)) {
      await res.body?.cancel();
      throw new Transient(`The download server refused ${file}: HTTP ${res.status}`, url);
    } else {
      throw httpError(ctx, res, file, url);
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
          await writeAll(out, chunk);
          received += chunk.byteLength;
          progress.update(received);
        }
      } catch (cause) {
        if (ctx.signal?.aborted) throw cancelled(ctx, url, cause);
        const why = stall.signal.aborted ? `no data for ${ctx.stallTimeoutMs} ms` : messageOf(cause);
        throw new Transient(`Transfer of ${file} broke off at byte ${received}: ${why}`, url, { cause });
      }
    }
    await out.syncData();
    if (remote.size !== undefined && received < remote.size) {
      throw new Transient(`Transfer of ${file} ended early: ${received} of ${remote.size} bytes`, url);
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
  const res = await send(ctx, url, { headers: hubHeaders(ctx, url) });
  if (!res.ok) throw httpError(ctx, res, undefined, url);
  let info: { sha?: unknown; siblings?: { rfilename?: unknown }[] };
  try {
    info = await res.json();
  } catch (cause) {
    throw new DownloadError(`Unexpected answer listing ${ctx.repo}: ${messageOf(cause)}`, { url, cause });
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

function _env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    // Without --allow-env the defaults apply, as when the variable is unset.
    return undefined;
  }
}

function _knownNames(): string {
  return listPretrained().map((m) => m.name).join(", ");
}
