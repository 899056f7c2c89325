/**
 * The stream layer: NATS subjects and message codecs of the public contract, the processor behind
 * `adp serve`, and the connection helper the CLI uses.
 *
 * @example Run the processor on a connection and follow its results
 * ```ts ignore
 * import { connectNats, decodeResult, RESULTS_WILDCARD, startProcessor } from "./mod.ts";
 * import { loadClip } from "../model/mod.ts";
 *
 * const clip = await loadClip("models/ViT-B-16--openai");
 * const nc = await connectNats({ servers: "nats://127.0.0.1:4222", persistent: true });
 * await using processor = await startProcessor(nc, { clip, stateDir: "state", jetstream: true });
 * for await (const msg of nc.subscribe(RESULTS_WILDCARD)) {
 *   const r = decodeResult(msg.data);
 *   console.log(r.station, r.frameId, r.error ?? r.score);
 * }
 * ```
 *
 * @module
 */
export { requestEnrollment } from "./client.ts";
export type { EnrollAccepted, RequestEnrollmentOptions } from "./client.ts";
export { connectNats, explainRequestError, natsOptionsFromEnv } from "./connect.ts";
export type { BusConnection, NatsConnectOptions } from "./connect.ts";
export {
  BusError,
  DecoderCrashError,
  MessageError,
  RequestRefusedError,
  ServiceErrorCode,
  SubjectError,
} from "./errors.ts";
export { renderOverlay, summarizeMap } from "./heatmap.ts";
export {
  DEFAULT_HEATMAP_LIMITS,
  type HeatmapLimits,
  type HeatmapRetention,
  type HeatmapUsage,
  limitsOf,
} from "./heatmap_store.ts";
export {
  decodeAnomaly,
  decodeEnrollProgress,
  decodeEnrollReply,
  decodeEnrollRequest,
  decodeResult,
  decodeStationRequest,
  decodeThresholdSetRequest,
  encodeMessage,
  ENROLL_LIMITS,
  EnrollRefusal,
  FrameErrorReason,
  JobStage,
} from "./messages.ts";
export { FRAME_ID_REGEXP, parseCapturedAt, parseFrameId } from "./frame_headers.ts";
export type {
  AnomalyMessage,
  AnomalyRegion,
  EnrollProgressMessage,
  EnrollReply,
  EnrollRequest,
  HeatmapRef,
  LatencySummary,
  MapSummary,
  ModelRef,
  ProfileListReply,
  ProfileSummary,
  ResultMessage,
  StationRequest,
  StationStatus,
  StatusReply,
  ThresholdSetReply,
  ThresholdSetRequest,
} from "./messages.ts";
export {
  decodeExportRequest,
  decodeImportRequest,
  decodeRollbackRequest,
  MAX_IMPORT_BYTES,
  PROFILE_CHUNK_BYTES,
} from "./lifecycle_messages.ts";
export type {
  EnrollCancelReply,
  ExportReply,
  ExportRequest,
  ImportReply,
  ImportRequest,
  ProfileHistoryReply,
  RollbackReply,
  RollbackRequest,
} from "./lifecycle_messages.ts";
export { DEFAULT_PROFILE_HISTORY } from "./profile_history.ts";
export type { ProfileHistoryEntry, RollbackRecord } from "./profile_history.ts";
export { exportProfile, importProfile } from "./profile_transfer.ts";
export { startNatsServer } from "./nats_server.ts";
export { fileSafe } from "./heatmap_store.ts";
export type { NatsServerProcess } from "./nats_server.ts";
export { DEFAULT_STOP_GRACE_MS, startProcessor } from "./processor.ts";
export type { ProcessorTelemetry } from "./station_stats.ts";
export type { Processor, ProcessorConfig } from "./processor.ts";
export {
  ANOMALIES_WILDCARD,
  anomaliesSubject,
  anomalyMsgId,
  checkStationId,
  Endpoint,
  ENROLL_WILDCARD,
  enrollProgressSubject,
  enrollSubject,
  eventSubjects,
  FRAMES_WILDCARD,
  framesSubject,
  Header,
  INVALID_STATION,
  invalidResultsSubject,
  isStationId,
  JetStreamName,
  RESULTS_WILDCARD,
  resultsSubject,
  SERVICE_NAME,
  serviceSubject,
  STATION_ID_REGEXP,
  SubjectPrefix,
  triggerSubject,
} from "./subjects.ts";
export { decodeRoiSetRequest, profileWithRoi, roiSetReply } from "./roi_set.ts";
export { ResultRepeats } from "./result_repeats.ts";
export type { RoiSetReply, RoiSetRequest } from "./roi_set.ts";
export { requestJson, requestService } from "./service_client.ts";
export { decodeFeedbackRequest, requestFeedback } from "./feedback.ts";
export type { FeedbackReply, FeedbackRequest } from "./feedback.ts";
export type { ServiceErrorBody } from "./service_client.ts";
