/**
 * A plain subscriber in its own process for the soak's bus control: it takes every message on
 * `soak.flood.*` (copying each, as a consumer keeping frames would) and answers
 * `soak.sink.count` with how many it has taken. Prints "ready" once subscribed.
 *
 * ```sh
 * deno run -A bench/soak/_sink.ts nats://127.0.0.1:4222
 * ```
 *
 * @module
 */
import { connect } from "@nats-io/transport-node";

const nc = await connect({ servers: Deno.args[0], name: "soak-sink" });
let taken = 0;
nc.subscribe("soak.flood.*", {
  callback: (_e, m) => {
    m.data.slice();
    taken++;
  },
});
nc.subscribe("soak.sink.count", {
  callback: (_e, m) => {
    m.respond(String(taken));
  },
});
await nc.flush();
console.log("ready");
await nc.closed();
