import assert from "node:assert/strict";
import { renderProgressBar } from "../src/progress_bar.ts";

Deno.test("renderProgressBar() shows sizes, rate and time left for a download", () => {
  const line = renderProgressBar({
    label: "model.safetensors",
    received: 300e6,
    total: 600e6,
    bytesPerSecond: 10e6,
    width: 90,
  });
  assert.equal(
    line,
    "model.safetensors [==========>            ]  50%  300.0 MB / 600.0 MB  10.0 MB/s  ETA 0:30",
  );
});

Deno.test("renderProgressBar() formats hours, full bars and unknown totals", () => {
  const slow = renderProgressBar({ label: "w", received: 1e9, total: 4e9, bytesPerSecond: 1e5, width: 100 });
  assert.ok(slow.endsWith(" 25%  1.0 GB / 4.0 GB  100.0 kB/s  ETA 8:20:00"), slow);
  assert.equal(
    renderProgressBar({ label: "done", fraction: 1, width: 30 }),
    "done [==================] 100%",
  );
  // Without a total there is no fraction: an empty bar and the bytes so far.
  assert.equal(
    renderProgressBar({ label: "x", received: 512, width: 30 }),
    "x [                    ] 512 B",
  );
});

Deno.test("renderProgressBar() clamps the fraction and ignores a rate of zero", () => {
  assert.equal(renderProgressBar({ label: "a", fraction: 1.7, width: 20 }), "a [===========] 100%");
  assert.equal(renderProgressBar({ label: "a", fraction: -1, width: 20 }), "a [           ]   0%");
  assert.ok(!renderProgressBar({ label: "a", received: 5, total: 10, bytesPerSecond: 0 }).includes("ETA"));
});

Deno.test("renderProgressBar() fits any width, dropping details and then the label's start", () => {
  const opts = { label: "open_clip_model.safetensors", received: 1e9, total: 3.9e9, bytesPerSecond: 5e6 };
  for (let width = 1; width <= 120; width++) {
    const line = renderProgressBar({ ...opts, width });
    assert.ok(line.length <= width, `width ${width}: ${JSON.stringify(line)}`);
  }
  assert.equal(
    renderProgressBar({ ...opts, width: 50 }),
    "open_clip_model.safetensors [==>            ]  25%",
  );
  assert.equal(renderProgressBar({ ...opts, width: 30 }), "...fetensors [=>        ]  25%");
  assert.ok(renderProgressBar({ ...opts, width: 80 }).endsWith("1.0 GB / 3.9 GB  5.0 MB/s  ETA 9:40"));
});
