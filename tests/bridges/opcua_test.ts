import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import {
  AttributeIds,
  ClientMonitoredItem,
  ClientSubscription,
  type DataValue,
  OPCUACertificateManager,
  OPCUAClient,
  TimestampsToReturn,
  UserTokenType,
} from "node-opcua";
import { startBridgeRuntime, startOpcuaBridge } from "../../src/bridges/mod.ts";
import { cleanup, setup } from "../_nats.ts";
import { sharedPki } from "./_pki.ts";
import { pinOpensslConf } from "../../src/bridges/mod.ts";

// Before any node-opcua key read: other test files of this process start openssl (openssl_env.ts).
pinOpensslConf();
import { freePort, publishResult, result, waitFor } from "./_results.ts";

function opcuaClient(pki: string) {
  return OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 2, initialDelay: 100 },
    clientCertificateManager: new OPCUACertificateManager({ rootFolder: pki }),
  });
}

Deno.test("startOpcuaBridge() shows a defective frame's verdict to an OPC UA client subscription", async () => {
  const server = await setup({ jetstream: false });
  try {
    const nc = await server.connect();
    await using runtime = await startBridgeRuntime(await server.connect(), {
      stations: ["line-1"],
      serviceCheck: false,
      log: () => {},
    });
    const port = freePort();
    await using bridge = await startOpcuaBridge(runtime, {
      port,
      pkiDir: sharedPki("server"),
      log: () => {},
    });
    const client = opcuaClient(sharedPki("client"));
    await client.connect(bridge.endpointUrl);
    const session = await client.createSession();
    const sub = ClientSubscription.create(session, {
      requestedPublishingInterval: 50,
      requestedMaxKeepAliveCount: 20,
      requestedLifetimeCount: 100,
      publishingEnabled: true,
    });
    const seen: boolean[] = [];
    const item = ClientMonitoredItem.create(
      sub,
      { nodeId: "ns=1;s=line-1.Anomalous", attributeId: AttributeIds.Value },
      { samplingInterval: 0, queueSize: 10, discardOldest: true },
      TimestampsToReturn.Both,
    );
    item.on("changed", (dv: DataValue) => void seen.push(dv.value.value as boolean));
    await waitFor(() => seen.length >= 1, 5000, "the initial value");
    publishResult(nc, result("line-1", "good-1", 0.4));
    publishResult(nc, result("line-1", "bad-7", 3.25));
    await waitFor(() => seen.at(-1) === true, 5000, "Anomalous = true");
    const [frameId, score, scored, anomalous] = await session.read([
      { nodeId: "ns=1;s=line-1.FrameId", attributeId: AttributeIds.Value },
      { nodeId: "ns=1;s=line-1.Score", attributeId: AttributeIds.Value },
      { nodeId: "ns=1;s=line-1.FramesScored", attributeId: AttributeIds.Value },
      { nodeId: "ns=1;s=line-1.FramesAnomalous", attributeId: AttributeIds.Value },
    ]);
    strictEqual(frameId.value.value, "bad-7");
    strictEqual(score.value.value, 3.25);
    deepStrictEqual(scored.value.value, [0, 2]);
    deepStrictEqual(anomalous.value.value, [0, 1]);
    const ackBefore = await session.read({
      nodeId: "ns=1;s=line-1.Acknowledged",
      attributeId: AttributeIds.Value,
    });
    strictEqual(ackBefore.value.value, false);
    const call = await session.call({
      objectId: "ns=1;s=line-1",
      methodId: "ns=1;s=line-1.Acknowledge",
      inputArguments: [],
    });
    ok(call.statusCode.isGood(), call.statusCode.toString());
    const ack = await session.read({ nodeId: "ns=1;s=line-1.Acknowledged", attributeId: AttributeIds.Value });
    strictEqual(ack.value.value, true);
    await sub.terminate();
    await session.close();
    await client.disconnect();
  } finally {
    await cleanup(server);
  }
});

Deno.test("startOpcuaBridge() with users refuses anonymous sessions and accepts a known user", async () => {
  const server = await setup({ jetstream: false });
  try {
    await using runtime = await startBridgeRuntime(await server.connect(), {
      serviceCheck: false,
      log: () => {},
    });
    await using bridge = await startOpcuaBridge(runtime, {
      port: freePort(),
      pkiDir: sharedPki("server"),
      users: [{ user: "plc", password: "s3cret" }],
      log: () => {},
    });
    const client = opcuaClient(sharedPki("client"));
    await client.connect(bridge.endpointUrl);
    await rejects(client.createSession());
    await rejects(client.createSession({ type: UserTokenType.UserName, userName: "plc", password: "wrong" }));
    const session = await client.createSession({
      type: UserTokenType.UserName,
      userName: "plc",
      password: "s3cret",
    });
    const healthy = await session.read({ nodeId: "ns=1;s=Chain.Healthy", attributeId: AttributeIds.Value });
    strictEqual(healthy.value.value, true);
    await session.close();
    await client.disconnect();
  } finally {
    await cleanup(server);
  }
});
