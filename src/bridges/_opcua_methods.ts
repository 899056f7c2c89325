/**
 * The methods of a station's OPC UA object: `Acknowledge()` marks the last anomaly seen by an
 * operator or the PLC; `RequestEnrollment(Shots)` asks `adp serve` to enroll the station from its
 * next frames and returns the job id (or the refusal).
 *
 * @module
 */
import type { Namespace, UAObject } from "node-opcua";
import type { BridgeRuntime } from "./runtime.ts";

/**
 * Adds `Acknowledge` and `RequestEnrollment` to a station's object.
 *
 * @param ua the node-opcua module
 * @param ns the server's namespace
 * @param station the station's object (`ns=1;s=<station>`)
 * @param runtime acknowledges and requests
 * @param id the station id
 */
export function addStationMethods(
  ua: typeof import("node-opcua"),
  ns: Namespace,
  station: UAObject,
  runtime: BridgeRuntime,
  id: string,
): void {
  const ack = ns.addMethod(station, {
    browseName: "Acknowledge",
    nodeId: `s=${id}.Acknowledge`,
    inputArguments: [],
    outputArguments: [],
  });
  ack.bindMethod((_inputs, _context, callback) => {
    runtime.acknowledge(id);
    callback(null, { statusCode: ua.StatusCodes.Good, outputArguments: [] });
  });
  const enroll = ns.addMethod(station, {
    browseName: "RequestEnrollment",
    nodeId: `s=${id}.RequestEnrollment`,
    inputArguments: [{
      name: "Shots",
      description: { text: "Good parts to learn from (1–16): the station's next frames" },
      dataType: ua.DataType.UInt32,
    }],
    outputArguments: [{
      name: "Result",
      description: { text: "The job id, or why the request was refused" },
      dataType: ua.DataType.String,
    }],
  });
  enroll.bindMethod((inputs, _context, callback) => {
    const shots = Number(inputs[0]?.value);
    runtime.requestEnrollment(id, shots).then(
      (reply) => {
        const text = reply.ok ? `job ${reply.jobId}` : `refused (${reply.code}): ${reply.error}`;
        callback(null, {
          statusCode: reply.ok ? ua.StatusCodes.Good : ua.StatusCodes.BadInvalidArgument,
          outputArguments: [new ua.Variant({ dataType: ua.DataType.String, value: text })],
        });
      },
      (error: Error) =>
        callback(null, {
          statusCode: ua.StatusCodes.BadCommunicationError,
          outputArguments: [new ua.Variant({ dataType: ua.DataType.String, value: error.message })],
        }),
    );
  });
}
