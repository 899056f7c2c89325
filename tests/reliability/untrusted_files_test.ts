/**
 * Model and profile files are untrusted input. A profile can come from another instance through the
 * shared bucket, a model folder from a download: a safetensors header with absurd sizes or offsets,
 * profile metadata of the wrong types or carrying a `__proto__` key, and a backbone description
 * that names a file outside its folder are each refused with a clear error naming the file and the
 * problem, before anything of the announced size is allocated and without anything being run, and
 * the service goes on scoring its other stations.
 */
import assert from "node:assert/strict";
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { loadBackboneConfig } from "../../src/adp/patch/backbone_config.ts";
import { openPatchExtractor } from "../../src/adp/patch/open_branch.ts";
import { loadProfile, saveProfile } from "../../src/adp/profile.ts";
import { ConfigError, ProfileError, WeightsError } from "../../src/errors.ts";
import { loadClip } from "../../src/model/clip_model.ts";
import { startProcessor } from "../../src/stream/processor.ts";
import { publishFrame, ResultTracker } from "../../bench/soak/service.ts";
import { cleanup, setup } from "../_nats.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { bottle, bottleProfile, reliabilityModel } from "./_fixture.ts";
import { tempDir } from "../_temp_dir.ts";

/** A safetensors file from its parts: the 8-byte header length (overridable), the header, the data. */
function safetensors(header: unknown, data: Uint8Array, length?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** The header and data section of a safetensors file. */
function split(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return {
    header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))),
    data: bytes.subarray(8 + n),
  };
}

Deno.test({
  name: "loadProfile() refuses absurd safetensors sizes and offsets without allocating them",
  ...needsShared,
  async fn() {
    await using model = await reliabilityModel();
    await using tmp = await tempDir("adp-untrusted-");
    const dir = tmp.path;
    const good = join(dir, "good.safetensors");
    await saveProfile(good, await bottleProfile(model.clip, "good"));
    const { header, data } = split(await Deno.readFile(good));
    const memory = header.memory as { dtype: string; shape: number[]; data_offsets: number[] };
    const other = Object.fromEntries(Object.entries(header).filter(([k]) => k !== "memory"));
    const cases: [string, Uint8Array, RegExp][] = [
      [
        "header length near 2^64",
        safetensors(header, data, 0xfffffffffffffff0n),
        /header length \d+ exceeds the limit/,
      ],
      [
        "header length of 90 MB in a small file",
        safetensors(header, data, 90_000_000n),
        /does not fit in a file of \d+ bytes/,
      ],
      [
        "a tensor of 2^40 floats",
        safetensors(
          { ...other, memory: { ...memory, shape: [2 ** 40], data_offsets: [0, 2 ** 42] } },
          data,
        ),
        /tensor "memory" ends at byte 4398046511104 but the data section holds \d+ bytes/,
      ],
      [
        "a shape whose size overflows",
        safetensors({ ...other, memory: { ...memory, shape: [2 ** 31, 2 ** 31, 2 ** 31] } }, data),
        /tensor "memory" has a shape too large to address/,
      ],
      [
        "negative offsets",
        safetensors({ ...other, memory: { ...memory, data_offsets: [-4096, 0] } }, data),
        /tensor "memory" has invalid data_offsets/,
      ],
      [
        "offsets that disagree with the shape",
        safetensors({ ...other, memory: { ...memory, data_offsets: [0, 8] } }, data),
        /tensor "memory" holds 8 bytes but shape/,
      ],
      [
        "two tensors on the same bytes",
        safetensors({
          ...other,
          memory: { ...memory, data_offsets: [0, memory.data_offsets[1] - memory.data_offsets[0]] },
        }, data),
        /overlaps tensor/,
      ],
      ["a header that is not JSON", safetensors("{not json", data), /header is not valid JSON/],
      [
        "metadata that is not strings",
        safetensors({ ...header, __metadata__: { "adp.profile": { nested: true } } }, data),
        /__metadata__ is not a map of strings/,
      ],
    ];
    // This isolate's heap and buffers (the process's RSS is shared with test files running beside it).
    const used = () => Deno.memoryUsage().heapUsed + Deno.memoryUsage().external;
    const before = used();
    for (const [what, bytes, message] of cases) {
      const path = join(dir, "hostile.safetensors");
      await Deno.writeFile(path, bytes);
      await assert.rejects(
        () => loadProfile(path),
        (e) => e instanceof ProfileError && e.message.includes(path) && message.test(e.message),
        what,
      );
    }
    assert.ok(
      used() - before < 64 * 1048576,
      "nothing of the announced sizes was allocated",
    );
  },
});

Deno.test({
  name: "loadProfile() refuses metadata of the wrong types and __proto__ keys, and pollutes nothing",
  ...needsShared,
  async fn() {
    await using model = await reliabilityModel();
    await using tmp = await tempDir("adp-untrusted-");
    const dir = tmp.path;
    const good = join(dir, "good.safetensors");
    await saveProfile(good, await bottleProfile(model.clip, "good"));
    const { header, data } = split(await Deno.readFile(good));
    const metaText = (header.__metadata__ as Record<string, string>)["adp.profile"];
    /** The good profile with its metadata JSON edited as text or as an object. */
    const edited = (edit: (meta: Record<string, unknown>) => void, raw?: (text: string) => string) => {
      const meta = JSON.parse(metaText);
      edit(meta);
      const text = raw ? raw(metaText) : JSON.stringify(meta);
      return safetensors({ ...header, __metadata__: { "adp.profile": text } }, data);
    };
    const cases: [string, Uint8Array, RegExp][] = [
      [
        "threshold as text",
        edited((m) => m.threshold = "0.5"),
        /field threshold must be a finite number: got "0\.5"/,
      ],
      ["version 0", edited((m) => m.version = 0), /field version must be an integer ≥ 1: got 0/],
      [
        "model as a list",
        edited((m) => m.model = [1, 2]),
        /field model must be a JSON object: got a list of 2/,
      ],
      [
        "a memory bigger than its tensor",
        edited((m) => (m.patch as Record<string, unknown>).count = 1e9),
        /memory has \d+ values, expected/,
      ],
      [
        "an unknown extractor",
        edited((m) => (m.patch as Record<string, unknown>).extractor = { kind: "python", code: "import os" }),
        /field patch\.extractor\.kind must be one of clip, onnx: got "python"/,
      ],
      [
        "an edge excess that is not a number",
        edited((m) => (m.patch as Record<string, unknown>).edgeExcess = [0.01, null]),
        /field patch\.edgeExcess must be a list of finite numbers: got/,
      ],
      [
        "losses as text",
        edited((m) =>
          ((m.enrollment as Record<string, unknown>).losses as Record<string, unknown>).normal = "[1,2]"
        ),
        /field enrollment\.losses\.normal must be a list of finite numbers: got "\[1,2\]"/,
      ],
      ["a newer format", edited((m) => m.formatVersion = 99), /newer ADP Edge \(format 99/],
      [
        "not a profile",
        edited((m) => m.format = "pickle"),
        /not an ADP station profile: format is "pickle"/,
      ],
      [
        "a __proto__ key at the top",
        edited(() => {}, (t) => t.replace(/^\{/, '{"__proto__":{"polluted":true,"threshold":-1e9},')),
        /metadata holds a "__proto__" key/,
      ],
      [
        "a __proto__ key deep inside",
        edited(() => {}, (t) => t.replace('"weights":{', '"weights":{"__proto__":1,')),
        /metadata holds a "__proto__" key in selfTuning\.weights/,
      ],
    ];
    for (const [what, bytes, message] of cases) {
      const path = join(dir, `${what.replaceAll(" ", "-")}.safetensors`);
      await Deno.writeFile(path, bytes);
      await assert.rejects(
        () => loadProfile(path),
        (e) => e instanceof ProfileError && e.message.includes(path) && message.test(e.message),
        what,
      );
    }
    // Parsing those files changed no prototype anywhere.
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, "threshold"), false);
    // The untouched profile still loads: the checks refuse the hostile, not the normal.
    assert.equal((await loadProfile(good)).meta.version, 1);
  },
});

Deno.test({
  name: "startProcessor() refuses hostile profiles with their reasons and scores the good station",
  ...needsShared,
  async fn() {
    const ns = await setup({ jetstream: false });
    await using model = await reliabilityModel();
    const stateDir = await Deno.makeTempDir({ prefix: "adp-untrusted-state-" });
    try {
      await mkdir(join(stateDir, "profiles"));
      const goodPath = join(stateDir, "profiles", "good.safetensors");
      await saveProfile(goodPath, await bottleProfile(model.clip, "good"));
      const { header, data } = split(await Deno.readFile(goodPath));
      const metaText = (header.__metadata__ as Record<string, string>)["adp.profile"];
      const withMeta = (text: string) =>
        safetensors({ ...header, __metadata__: { "adp.profile": text } }, data);
      await Deno.writeFile(
        join(stateDir, "profiles", "bomb.safetensors"),
        safetensors(header, data, 2n ** 62n),
      );
      await Deno.writeFile(
        join(stateDir, "profiles", "proto.safetensors"),
        withMeta(metaText.replace(/^\{/, '{"__proto__":{"x":1},')),
      );
      // A profile that asks for an ONNX backbone through a description naming /etc/passwd as its model.
      const backbone = join(stateDir, "evil-backbone.json");
      const proxy = JSON.parse(await Deno.readTextFile(sharedPath("models/proxy/backbone.json")));
      await Deno.writeTextFile(backbone, JSON.stringify({ ...proxy, onnx: "/etc/passwd" }));
      const meta = JSON.parse(metaText);
      meta.patch.extractor = {
        kind: "onnx",
        config: backbone,
        sha256: "0".repeat(64),
        layers: ["features_14"],
        inputSize: 224,
        resize: "whole",
        interpolation: "bilinear",
        intensity: "auto",
        pool: 1,
      };
      await Deno.writeFile(join(stateDir, "profiles", "escape.safetensors"), withMeta(JSON.stringify(meta)));

      const client = await ns.connect("client");
      const trackers = Object.fromEntries(
        ["good", "bomb", "proto", "escape"].map((s) => [s, new ResultTracker(client, s)]),
      );
      await client.flush();
      const processor = await startProcessor(await ns.connect("service"), {
        clip: model.clip,
        stateDir,
        log: () => {},
      });
      const status = Object.fromEntries(processor.status().stations.map((s) => [s.station, s]));
      assert.match(status.bomb.profileError!, /bomb\.safetensors.*header length \d+ exceeds the limit/);
      assert.match(status.proto.profileError!, /proto\.safetensors.*"__proto__"/);
      for (const station of ["good", "bomb", "proto", "escape"]) {
        publishFrame(client, station, await bottle(30), `${station}-1`);
      }
      const good = await trackers.good.waitOne("good-1");
      assert.equal(typeof good.score, "number", good.error);
      for (const station of ["bomb", "proto"]) {
        const r = await trackers[station].waitOne(`${station}-1`);
        assert.equal(r.reason, "profile-invalid");
        assert.equal(r.score, null);
      }
      // The escape profile is well-formed; its backbone is opened on its first frame and refused there.
      const escape = await trackers.escape.waitOne("escape-1");
      assert.equal(escape.reason, "scoring-failed");
      assert.match(
        escape.error!,
        /field onnx must be a path inside the description's folder .*: got "\/etc\/passwd"/,
      );
      await processor.stop();
      for (const t of Object.values(trackers)) t.stop();
    } finally {
      await cleanup(ns);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "loadBackboneConfig() refuses a model path outside its folder, and opening it never reads the file",
  ...needsShared,
  async fn() {
    await using tmp = await tempDir("adp-untrusted-backbone-");
    const dir = tmp.path;
    const proxy = JSON.parse(await Deno.readTextFile(sharedPath("models/proxy/backbone.json")));
    await mkdir(join(dir, "models", "proxy"), { recursive: true });
    await copyFile(
      sharedPath("models/proxy/mobilenetv2-features.onnx"),
      join(dir, "models", "proxy", "mobilenetv2-features.onnx"),
    );
    // The real description beside its model loads.
    const inside = join(dir, "models", "proxy", "backbone.json");
    await Deno.writeTextFile(inside, JSON.stringify(proxy));
    assert.equal(
      (await loadBackboneConfig(inside)).onnx,
      join(dir, "models", "proxy", "mobilenetv2-features.onnx"),
    );
    for (
      const onnx of [
        "../elsewhere.onnx",
        "../../proxy/../../x.onnx",
        "/etc/passwd",
        "/dev/zero",
        ".",
        "sub/../..",
      ]
    ) {
      const path = join(dir, "models", "proxy", "evil.json");
      await Deno.writeTextFile(path, JSON.stringify({ ...proxy, onnx }));
      await assert.rejects(
        () => loadBackboneConfig(path),
        (e) =>
          e instanceof ConfigError && e.message.includes(path) &&
          e.message.includes(`field onnx must be a path inside the description's folder`) &&
          e.message.includes(`: got ${JSON.stringify(onnx)}`),
        onnx,
      );
    }
    // Through a profile's extractor spec, the way the scorer opens it: refused before /dev/zero is read.
    await Deno.writeTextFile(join(dir, "zero.json"), JSON.stringify({ ...proxy, onnx: "/dev/zero" }));
    const clip = undefined as unknown as Parameters<typeof openPatchExtractor>[0];
    await assert.rejects(
      () =>
        openPatchExtractor(clip, {
          kind: "onnx",
          config: join(dir, "zero.json"),
          sha256: "0".repeat(64),
          layers: ["features_14"],
          inputSize: 224,
          resize: "whole",
          interpolation: "bilinear",
          intensity: "auto",
          pool: 1,
        }),
      (e) => e instanceof ConfigError && /field onnx must be a path inside/.test(e.message),
    );
  },
});

Deno.test({
  name: "loadClip() refuses model weights whose safetensors header is absurd, naming the file",
  ...needsShared,
  async fn() {
    await using model = await reliabilityModel();
    await using tmp = await tempDir("adp-untrusted-model-");
    const dir = tmp.path;
    for await (const e of Deno.readDir(model.dir)) {
      if (e.isFile && !e.name.endsWith(".safetensors")) {
        await copyFile(join(model.dir, e.name), join(dir, e.name));
      }
    }
    const weights = (await Array.fromAsync(Deno.readDir(model.dir))).find((e) =>
      e.name.endsWith(".safetensors")
    )!.name;
    const { header, data } = split(await Deno.readFile(join(model.dir, weights)));
    const [name, entry] = Object.entries(header).find(([k]) => k !== "__metadata__")! as [
      string,
      { shape: number[] },
    ];
    const cases: [Uint8Array, RegExp][] = [
      [safetensors(header, data, 2n ** 63n), /exceeds the limit/],
      [
        safetensors({ ...header, [name]: { ...entry, data_offsets: [0, 2 ** 50] } }, data),
        /ends at byte 1125899906842624/,
      ],
    ];
    for (const [bytes, message] of cases) {
      await Deno.writeFile(join(dir, weights), bytes);
      await assert.rejects(
        () => loadClip(dir, { device: "cpu", cacheDir: join(dir, ".cache"), log: () => {}, threads: 1 }),
        (e) => e instanceof WeightsError && e.message.includes(weights) && message.test(e.message),
      );
    }
  },
});
