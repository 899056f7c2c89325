/**
 * Scoring first (issue 17, item 10): a model run inside a background lane waits while urgent work is
 * busy, and runs once it settles; outside a lane, or with nothing urgent, a run starts at once; a
 * background run waits at most `maxWaitMs`, so it still advances under sustained load. Checked on a
 * real onnxruntime session of a small graph (y = x·x), the order of completion recorded.
 */
import assert from "node:assert/strict";
import { GraphBuilder, mul, openGraphSession, RunTurns } from "../../src/onnx/mod.ts";

async function squareSession() {
  const g = new GraphBuilder("square");
  const x = g.input("x", "float32", [3]);
  g.output("y", mul(x, x));
  return await openGraphSession(g, { device: "cpu", log: () => {} });
}

const feeds = { x: { data: new Float32Array([1, 2, 3]), dims: [3] } };

Deno.test("a background model run waits for busy urgent work; an urgent run does not", async () => {
  const session = await squareSession();
  try {
    let busy = true;
    const turns = new RunTurns({ busy: () => busy, maxWaitMs: 60_000 });
    const order: string[] = [];
    const background = turns.background(async () => {
      const out = await session.run(feeds);
      order.push("background");
      return out;
    });
    const urgent = await session.run(feeds);
    order.push("urgent");
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(order, ["urgent"], "the background run is still waiting");
    busy = false;
    turns.settle();
    const out = await background;
    assert.deepEqual(order, ["urgent", "background"]);
    assert.deepEqual([...out.y.data], [1, 4, 9]);
    assert.deepEqual([...urgent.y.data], [1, 4, 9]);
    assert.equal(turns.yielded.runs, 1);
  } finally {
    await session.dispose();
  }
});

Deno.test("a background run waits at most maxWaitMs, and not at all when nothing is urgent", async () => {
  const session = await squareSession();
  try {
    const always = new RunTurns({ busy: () => true, maxWaitMs: 30 });
    const out = await always.background(() => session.run(feeds));
    assert.deepEqual([...out.y.data], [1, 4, 9]);
    assert.equal(always.yielded.runs, 1);
    assert.ok(always.yielded.waitedMs >= 25, `waited ${always.yielded.waitedMs} ms`);
    const idle = new RunTurns({ busy: () => false });
    await idle.background(() => session.run(feeds));
    assert.equal(idle.yielded.runs, 0);
  } finally {
    await session.dispose();
  }
});
