/**
 * The profile lifecycle endpoints: a station's history, rollback to a kept version, export and
 * import of profile files in chunks, and the cancel of a running enrollment. The processor hands in
 * how a profile is swapped in (checked on a frame, persisted, then put in force: the same path as
 * an enrollment's), so a rollback or an import is hot-swapped exactly like one.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ObjectStore } from "@nats-io/obj";
import { loadProfile, type StationProfile } from "../adp/mod.ts";
import { ProfileError } from "../errors.ts";
import { RequestRefusedError, ServiceErrorCode } from "./errors.ts";
import {
  type EnrollCancelReply,
  type ExportReply,
  type ExportRequest,
  type ImportReply,
  type ImportRequest,
  PROFILE_CHUNK_BYTES,
  type ProfileHistoryReply,
  type RollbackReply,
  type RollbackRequest,
} from "./lifecycle_messages.ts";
import type { ProfileStore } from "./profile_store.ts";
import { reason } from "./profile_store.ts";
import { writeDurably } from "./profile_history.ts";

/** Chunks of an import not finished within this long are dropped by the next import. */
const STALE_UPLOAD_MS = 3600 * 1000;

/** How long an instance without the station's job waits before saying so (see cancelEnrollment). */
const NO_JOB_REPLY_DELAY_MS = 500;

/** What the lifecycle endpoints do; the service registers them (service_api.ts). */
export interface LifecycleApi {
  /** `adp.svc.profiles.history` */
  history(station: string): Promise<ProfileHistoryReply>;
  /** `adp.svc.profiles.rollback` */
  rollback(req: RollbackRequest): Promise<RollbackReply>;
  /** `adp.svc.profiles.export` */
  exportChunk(req: ExportRequest): Promise<ExportReply>;
  /** `adp.svc.profiles.import` */
  importChunk(req: ImportRequest): Promise<ImportReply>;
  /** `adp.svc.enroll.cancel` */
  cancelEnrollment(station: string): Promise<EnrollCancelReply>;
}

/** What the lifecycle needs from the processor. */
export interface LifecycleHost {
  /** Where profiles and their history live. */
  readonly store: ProfileStore;
  /** The service's state dir (import chunks wait in its `imports/` folder without a bucket). */
  readonly stateDir: string;
  /** The shared bucket (import chunks wait there with JetStream, for any instance to assemble). */
  readonly bucket?: ObjectStore;
  /** The version of a station's profile in force (on disk, not loaded, when the station was evicted). */
  versionInForce(station: string): number | undefined;
  /** The next unused version number of a station. */
  nextVersion(station: string): number;
  /**
   * Alone among the station's profile changes: checks `profile` on a frame, runs `persist`, then
   * puts it in force.
   */
  swapIn(station: string, profile: StationProfile, persist: () => Promise<unknown>): Promise<void>;
  /** Cancels the station's enrollment job and frees its lock; its id, or null when it has none. */
  cancelEnrollment(station: string): Promise<string | null>;
  /** Where log lines go. */
  log(line: string): void;
}

/** The lifecycle endpoints over a processor. */
export class ProfileLifecycle implements LifecycleApi {
  readonly #host: LifecycleHost;
  #exporting: { key: string; bytes: Uint8Array; sha256: string } | undefined;

  /** @param host the store and the processor's swap */
  constructor(host: LifecycleHost) {
    this.#host = host;
  }

  async history(station: string): Promise<ProfileHistoryReply> {
    const versions = await this.#host.store.history(station);
    return { station, inForce: this.#host.versionInForce(station) ?? null, versions };
  }

  async rollback(req: RollbackRequest): Promise<RollbackReply> {
    const { station, version } = req;
    const kept = await this.#host.store.historyProfile(station, version);
    let record: RollbackReply | undefined;
    await this.#host.swapIn(station, kept.profile, async () => {
      const done = await this.#host.store.rollback(station, kept, { by: req.by, note: req.note });
      record = { station, version, previous: done.fromVersion, at: done.at };
    });
    this.#host.log(`profile of ${station} rolled back to v${version} (was v${record!.previous ?? "none"})`);
    return record!;
  }

  async exportChunk(req: ExportRequest): Promise<ExportReply> {
    const { station } = req;
    const version = req.version ?? this.#host.versionInForce(station);
    if (version === undefined) {
      throw new RequestRefusedError(ServiceErrorCode.NOT_FOUND, `Station ${station} has no profile in force`);
    }
    const offset = req.offset ?? 0;
    const key = `${station}/v${version}`;
    // The file of the export in progress is read and hashed once, not once per chunk.
    if (offset === 0 || this.#exporting?.key !== key) {
      const bytes = await this.#host.store.historyBytes(station, version);
      this.#exporting = { key, bytes, sha256: createHash("sha256").update(bytes).digest("hex") };
    }
    const { bytes, sha256 } = this.#exporting;
    if (offset > bytes.length) {
      throw new RequestRefusedError(
        ServiceErrorCode.BAD_REQUEST,
        `offset ${offset} is past the end of v${version} of ${station} (${bytes.length} bytes)`,
      );
    }
    return {
      station,
      version,
      size: bytes.length,
      sha256,
      offset,
      data: Buffer.from(bytes.subarray(offset, offset + PROFILE_CHUNK_BYTES)).toString("base64"),
    };
  }

  async importChunk(req: ImportRequest): Promise<ImportReply> {
    const chunk = new Uint8Array(Buffer.from(req.data, "base64"));
    if (chunk.length > PROFILE_CHUNK_BYTES || req.offset + chunk.length > req.size) {
      throw new RequestRefusedError(
        ServiceErrorCode.BAD_REQUEST,
        `Import chunk at ${req.offset} of ${chunk.length} bytes does not fit a ${req.size}-byte file in chunks of at most ${PROFILE_CHUNK_BYTES}`,
      );
    }
    const { station, upload } = req;
    if (req.offset === 0) await this.#sweep();
    await this.#stash(upload, req.offset, chunk);
    const received = req.offset + chunk.length;
    if (received < req.size) return { station, upload, received, done: false };
    try {
      const version = await this.#finishImport(req, await this.#assemble(upload, req.size));
      return { station, upload, received, done: true, version };
    } finally {
      await this.#dropUpload(upload);
    }
  }

  async cancelEnrollment(station: string): Promise<EnrollCancelReply> {
    const jobId = await this.#host.cancelEnrollment(station);
    if (jobId === null) {
      // Every instance hears a cancel (the job runs on one of them): the one running it answers
      // at once, the others only after a while, so that their refusal never comes first.
      await new Promise((r) => setTimeout(r, NO_JOB_REPLY_DELAY_MS));
      throw new RequestRefusedError(
        ServiceErrorCode.NOT_FOUND,
        `Station ${station} has no enrollment running or collecting`,
      );
    }
    return { station, jobId, profileVersion: this.#host.versionInForce(station) ?? null };
  }

  /** Validates the assembled file as loadProfile does and saves it as the station's next version. */
  async #finishImport(req: ImportRequest, bytes: Uint8Array): Promise<number> {
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    if (sha256 !== req.sha256) {
      throw new RequestRefusedError(
        ServiceErrorCode.BAD_REQUEST,
        `Import of ${req.station} refused: the file received has SHA-256 ${sha256}, the sender announced ${req.sha256}`,
      );
    }
    const tmp = join(this.#host.stateDir, "imports", `${req.upload}.safetensors`);
    let profile: StationProfile;
    try {
      await Deno.mkdir(join(this.#host.stateDir, "imports"), { recursive: true });
      await writeDurably(tmp, bytes);
      profile = await loadProfile(tmp);
    } catch (error) {
      throw new RequestRefusedError(
        ServiceErrorCode.BAD_REQUEST,
        `Import of ${req.station} refused, nothing changed: ${reason(error).replaceAll(tmp, "the file")}`,
      );
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
    const origin = `${profile.meta.station ?? "a station"} v${profile.meta.version}`;
    let version = 0;
    await this.#host.swapIn(req.station, profile, () => {
      version = this.#host.nextVersion(req.station);
      profile.meta.version = version;
      profile.meta.station = req.station;
      profile.meta.revision = {
        kind: "import",
        at: new Date().toISOString(),
        ...(req.by ? { by: req.by } : {}),
        note: req.note ?? `imported from ${origin}`,
      };
      return this.#host.store.save(req.station, profile);
    }).catch((error) => {
      // Another model's profile, one that fails on a frame: refused before anything was written.
      if (!(error instanceof ProfileError)) throw error;
      throw new RequestRefusedError(
        ServiceErrorCode.BAD_REQUEST,
        `Import of ${req.station} refused, nothing changed: ${reason(error)}`,
      );
    });
    this.#host.log(`profile of ${req.station} imported from ${origin}: v${version} in force`);
    return version;
  }

  #partsDir(upload: string): string {
    return join(this.#host.stateDir, "imports", upload);
  }

  /** Keeps a chunk where the instance that receives the last one can read it. */
  async #stash(upload: string, offset: number, chunk: Uint8Array): Promise<void> {
    const name = String(offset).padStart(12, "0");
    if (this.#host.bucket) {
      await this.#host.bucket.putBlob({ name: `imports/${upload}/${name}` }, chunk);
      return;
    }
    await Deno.mkdir(this.#partsDir(upload), { recursive: true });
    await writeDurably(join(this.#partsDir(upload), name), chunk);
  }

  /** The chunks of an upload in offset order, which must cover exactly `size` bytes. */
  async #assemble(upload: string, size: number): Promise<Uint8Array> {
    const parts: { offset: number; bytes: Uint8Array }[] = [];
    if (this.#host.bucket) {
      const prefix = `imports/${upload}/`;
      for (const info of await this.#host.bucket.list()) {
        if (info.deleted || !info.name.startsWith(prefix)) continue;
        const bytes = await this.#host.bucket.getBlob(info.name);
        if (bytes) parts.push({ offset: Number(info.name.slice(prefix.length)), bytes });
      }
    } else {
      for await (const e of Deno.readDir(this.#partsDir(upload))) {
        parts.push({
          offset: Number(e.name),
          bytes: await Deno.readFile(join(this.#partsDir(upload), e.name)),
        });
      }
    }
    parts.sort((a, b) => a.offset - b.offset);
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      if (p.offset !== at || at + p.bytes.length > size) break;
      out.set(p.bytes, at);
      at += p.bytes.length;
    }
    if (at !== size) {
      throw new RequestRefusedError(
        ServiceErrorCode.BAD_REQUEST,
        `Import upload ${upload} is incomplete: ${at} of ${size} bytes arrived in order; send it again`,
      );
    }
    return out;
  }

  /** Drops the chunks of uploads abandoned long ago (a client that stopped mid-import). */
  async #sweep(): Promise<void> {
    const cutoff = Date.now() - STALE_UPLOAD_MS;
    const bucket = this.#host.bucket;
    if (bucket) {
      for (const info of await bucket.list().catch(() => [])) {
        if (info.deleted || !info.name.startsWith("imports/") || Date.parse(info.mtime) >= cutoff) continue;
        await bucket.delete(info.name).catch(() => {});
      }
      return;
    }
    const dir = join(this.#host.stateDir, "imports");
    await Deno.mkdir(dir, { recursive: true });
    for await (const e of Deno.readDir(dir)) {
      const at = (await Deno.stat(join(dir, e.name)).catch(() => null))?.mtime?.getTime();
      if (at !== undefined && at < cutoff) {
        await Deno.remove(join(dir, e.name), { recursive: true }).catch(() => {});
      }
    }
  }

  async #dropUpload(upload: string): Promise<void> {
    await Deno.remove(this.#partsDir(upload), { recursive: true }).catch(() => {});
    const bucket = this.#host.bucket;
    if (!bucket) return;
    for (const info of await bucket.list().catch(() => [])) {
      if (!info.deleted && info.name.startsWith(`imports/${upload}/`)) {
        await bucket.delete(info.name).catch(() => {});
      }
    }
  }
}
