import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.ts";
import { getArchitecture, isArchitectureName, listArchitectures } from "../../src/clip/architectures.ts";
import { validateClipConfig } from "../../src/clip/config_parse.ts";
import { CLIP_MEAN, CLIP_STD } from "../../src/clip/config.ts";

/** [image, patch, vision width/layers/heads, text width/layers/heads, embed, activation] per OpenCLIP's configs. */
const EXPECTED = {
  "vit-b-16": [224, 16, 768, 12, 12, 512, 12, 8, 512, "quick_gelu"],
  "vit-b-16-plus-240": [240, 16, 896, 12, 14, 640, 12, 10, 640, "gelu"],
  "vit-l-14": [224, 14, 1024, 24, 16, 768, 12, 12, 768, "quick_gelu"],
  "vit-h-14": [224, 14, 1280, 32, 16, 1024, 24, 16, 1024, "gelu"],
  "tiny": [96, 16, 128, 3, 2, 128, 3, 4, 64, "quick_gelu"],
  "tiny-gelu": [96, 16, 128, 3, 2, 128, 3, 4, 64, "gelu"],
} as const;

Deno.test("listArchitectures() lists exactly the registered names", () => {
  assert.deepEqual(listArchitectures().sort(), Object.keys(EXPECTED).sort());
});

Deno.test("getArchitecture() returns the published shape of every architecture", () => {
  for (const [name, e] of Object.entries(EXPECTED)) {
    const c = getArchitecture(name);
    const [image, patch, vw, vl, vh, tw, tl, th, embed, act] = e;
    assert.deepEqual(
      [c.vision.imageSize, c.vision.patchSize, c.vision.width, c.vision.layers, c.vision.heads],
      [image, patch, vw, vl, vh],
      name,
    );
    assert.deepEqual([c.text.width, c.text.layers, c.text.heads], [tw, tl, th], name);
    assert.equal(c.embedDim, embed, name);
    assert.equal(c.activation, act, name);
    assert.equal(c.vision.mlpWidth, 4 * vw, name);
    assert.equal(c.text.mlpWidth, 4 * tw, name);
    assert.equal(c.text.contextLength, 77, name);
    assert.equal(c.text.vocabSize, 49408, name);
    assert.equal(c.vision.layerNormEps, 1e-5, name);
    assert.deepEqual(c.preprocess, { mean: CLIP_MEAN, std: CLIP_STD }, name);
    assert.deepEqual(validateClipConfig(c), c, name);
  }
});

Deno.test("getArchitecture() returns a copy the caller may change", () => {
  const a = getArchitecture("tiny");
  a.vision.width = 1;
  a.preprocess.mean[0] = 9;
  const b = getArchitecture("tiny");
  assert.equal(b.vision.width, 128);
  assert.equal(b.preprocess.mean[0], CLIP_MEAN[0]);
});

Deno.test("getArchitecture() throws ConfigError listing the names when the name is unknown", () => {
  assert.throws(() => getArchitecture("vit-z-99"), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^Unknown architecture "vit-z-99": expected one of .*vit-b-16/);
    return true;
  });
  assert.equal(isArchitectureName("vit-z-99"), false);
  assert.equal(isArchitectureName("tiny"), true);
});
