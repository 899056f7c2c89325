/**
 * The client side of profile export and import: a profile file moved in chunks of at most
 * {@linkcode PROFILE_CHUNK_BYTES} (NATS's max_payload is 1 MiB by default; a profile can be larger),
 * each chunk one request, the whole checked against its SHA-256 at the far end.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { nuid } from "@nats-io/transport-node";
import type { BusConnection } from "./connect.ts";
import { MessageError } from "./errors.ts";
import { type ExportReply, type ImportReply, PROFILE_CHUNK_BYTES } from "./lifecycle_messages.ts";
import { requestService } from "./service_client.ts";
import { Endpoint } from "./subjects.ts";

/**
 * Fetches a station's profile file (a kept version, or the one in force) from the service.
 *
 * @param nc the connection
 * @param station the station
 * @param version which kept version; the one in force when absent
 * @returns the version and the file's bytes, checked against the service's SHA-256
 * @throws {RequestRefusedError} 404 when the station or the version is unknown
 */
export async function exportProfile(
  nc: BusConnection,
  station: string,
  version?: number,
): Promise<{ version: number; bytes: Uint8Array }> {
  const first = await requestService<ExportReply>(nc, Endpoint.profilesExport, { station, version });
  const bytes = new Uint8Array(first.size);
  let at = 0;
  for (let reply = first;;) {
    const chunk = Buffer.from(reply.data, "base64");
    if (
      reply.offset !== at || at + chunk.length > bytes.length || (chunk.length === 0 && at < bytes.length)
    ) {
      throw new MessageError(
        `Export of ${station} v${first.version}: chunk at ${reply.offset} does not follow ${at}`,
      );
    }
    bytes.set(chunk, at);
    at += chunk.length;
    if (at === bytes.length) break;
    reply = await requestService<ExportReply>(nc, Endpoint.profilesExport, {
      station,
      version: first.version,
      offset: at,
    });
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== first.sha256) {
    throw new MessageError(
      `Export of ${station} v${first.version} arrived damaged: SHA-256 ${sha256}, expected ${first.sha256}`,
    );
  }
  return { version: first.version, bytes };
}

/**
 * Sends a profile file to the service, which validates it fully and puts it in force as the
 * station's next version (revision kind `import`).
 *
 * @param nc the connection
 * @param station the station it is imported into
 * @param bytes the profile file
 * @param who who imports and why, for the history
 * @returns the new version
 * @throws {RequestRefusedError} 400 with the reason when the file is refused (nothing changes then)
 */
export async function importProfile(
  nc: BusConnection,
  station: string,
  bytes: Uint8Array,
  who: { by?: string; note?: string } = {},
): Promise<number> {
  const upload = nuid.next();
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  for (let offset = 0; offset < bytes.length; offset += PROFILE_CHUNK_BYTES) {
    const data = Buffer.from(bytes.subarray(offset, offset + PROFILE_CHUNK_BYTES)).toString("base64");
    const reply = await requestService<ImportReply>(
      nc,
      Endpoint.profilesImport,
      { station, upload, offset, size: bytes.length, sha256, data, ...who },
      // The last chunk waits for validation, a check on a frame and the save.
      { timeoutMs: offset + PROFILE_CHUNK_BYTES >= bytes.length ? 60_000 : 10_000 },
    );
    if (reply.done) return reply.version;
  }
  throw new MessageError(`Import of ${station}: the service never confirmed the last chunk`);
}
