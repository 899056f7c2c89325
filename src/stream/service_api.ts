/**
 * The `adp` NATS micro service: `$SRV.PING|INFO|STATS.adp` come with `@nats-io/services`; the
 * endpoints answer on `adp.svc.<name>` with JSON, or with a service error (code in
 * `Nats-Service-Error-Code`, reason in `Nats-Service-Error`). `status` has no queue group, so every
 * instance answers and a client can gather them all; the profile endpoints are served by one
 * instance of the queue group (profiles are shared through the object store with JetStream).
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { type Service, type ServiceMsg, Svcm } from "@nats-io/services";
import type { ProfileMeta } from "../adp/mod.ts";
import { serviceErrorCode } from "./errors.ts";
import {
  decodeStationRequest,
  decodeThresholdSetRequest,
  encodeMessage,
  type ProfileListReply,
  type StatusReply,
  type ThresholdSetReply,
  type ThresholdSetRequest,
} from "./messages.ts";
import { decodeExportRequest, decodeImportRequest, decodeRollbackRequest } from "./lifecycle_messages.ts";
import type { LifecycleApi } from "./profile_lifecycle.ts";
import { reason } from "./profile_store.ts";
import { Endpoint, SERVICE_NAME, SubjectPrefix } from "./subjects.ts";
import { decodeRoiSetRequest, type RoiSetReply, type RoiSetRequest } from "./roi_set.ts";

/** What the endpoints do; the processor implements it. */
export interface ServiceApi {
  /** `adp.svc.status`: this instance's state. */
  status(): StatusReply;
  /** `adp.svc.profiles.list`: every station's profile, or why it was refused. */
  listProfiles(): ProfileListReply;
  /**
   * `adp.svc.profiles.get`: a station's profile metadata.
   *
   * @throws {RequestRefusedError} 404 when the station has no profile
   */
  getProfile(station: string): { station: string; meta: ProfileMeta };
  /** `adp.svc.profiles.delete`: removes a station's profile here and in the shared bucket. */
  deleteProfile(station: string): Promise<{ station: string; deleted: true; version: number | null }>;
  /** `adp.svc.threshold.set`: changes a station's threshold and saves the profile. */
  setThreshold(req: ThresholdSetRequest): Promise<ThresholdSetReply>;
  /** `adp.svc.roi.set`: a station's region of interest, as a new profile version in force. */
  setRoi(req: RoiSetRequest): Promise<RoiSetReply>;
}

/** The service's version in INFO. */
export const SERVICE_VERSION = "0.1.0";

/**
 * Registers the `adp` service and its endpoints.
 *
 * @param nc the connection
 * @param api the handlers
 * @param opts queue group for the profile endpoints, metadata for INFO, the lifecycle endpoints' handlers
 * @returns the running service (stop it on shutdown)
 */
export async function startServiceApi(
  nc: NatsConnection,
  api: ServiceApi,
  opts: {
    queueGroup: string;
    metadata?: Record<string, string>;
    description?: string;
    lifecycle?: LifecycleApi;
  },
): Promise<Service> {
  // @nats-io/services pins its own @nats-io/nats-core: the connection is the same at run time.
  const service = await new Svcm(nc as never).add({
    name: SERVICE_NAME,
    version: SERVICE_VERSION,
    description: opts.description ?? "ADP Edge: few-shot anomaly detection for camera streams",
    metadata: opts.metadata,
    queue: "",
  });
  const group = service.addGroup(SubjectPrefix.service);
  const add = (
    name: Endpoint,
    queued: boolean,
    handle: (data: Uint8Array) => unknown | Promise<unknown>,
  ) => {
    // Endpoint names may not contain dots; the subject keeps them (adp.svc.profiles.list).
    group.addEndpoint(name.replaceAll(".", "-"), {
      subject: name,
      queue: queued ? opts.queueGroup : undefined,
      handler: (error: Error | null, msg: ServiceMsg) => {
        if (error) return;
        (async () => {
          try {
            msg.respond(encodeMessage(await handle(msg.data)));
          } catch (failure) {
            const status = serviceErrorCode(failure), message = reason(failure);
            // The body repeats the headers for clients that read only the payload (MQTT, curl via a gateway).
            msg.respondError(status, message, encodeMessage({ error: { status, message } }));
          }
        })();
      },
    });
  };
  add(Endpoint.status, false, () => api.status());
  add(Endpoint.profilesList, true, () => api.listProfiles());
  add(Endpoint.profilesGet, true, (data) => api.getProfile(decodeStationRequest(data).station));
  add(Endpoint.profilesDelete, true, (data) => api.deleteProfile(decodeStationRequest(data).station));
  add(Endpoint.thresholdSet, true, (data) => api.setThreshold(decodeThresholdSetRequest(data)));
  add(Endpoint.roiSet, true, (data) => api.setRoi(decodeRoiSetRequest(data)));
  const life = opts.lifecycle;
  if (life) {
    add(Endpoint.profilesHistory, true, (data) => life.history(decodeStationRequest(data).station));
    add(Endpoint.profilesRollback, true, (data) => life.rollback(decodeRollbackRequest(data)));
    add(Endpoint.profilesExport, true, (data) => life.exportChunk(decodeExportRequest(data)));
    add(Endpoint.profilesImport, true, (data) => life.importChunk(decodeImportRequest(data)));
    // Not in the queue group: only the instance running the station's job can cancel it.
    add(Endpoint.enrollCancel, false, (data) => life.cancelEnrollment(decodeStationRequest(data).station));
  }
  return service;
}
