import { ok, strictEqual, throws } from "node:assert/strict";
import { createProceduralSynthesizer, DEFECT_KINDS } from "../../../src/adp/synth/procedural.ts";
import { estimateForeground } from "../../../src/adp/synth/foreground.ts";
import { decodeImage, type Rgb8Image } from "../../../src/image/decode.ts";
import { Random } from "../../../src/random.ts";
import { ConfigError } from "../../../src/errors.ts";
import { needsShared, sharedPath } from "../../_shared.ts";

/** A mid-grey surface with a fine colour texture, so every kind of change is measurable. */
function texturedImage(width: number, height: number, grey = false): Rgb8Image {
  const data = new Uint8Array(width * height * 3);
  const random = new Random(99);
  for (let p = 0; p < width * height; p++) {
    const base = 110 + 30 * Math.sin(p * 0.013) + random.int(-12, 12);
    data[p * 3] = base;
    data[p * 3 + 1] = grey ? base : base + 15;
    data[p * 3 + 2] = grey ? base : base - 20;
  }
  return { width, height, data };
}

/** Pixels changed outside the mask, pixels changed inside it, and the mask's size. */
function maskAgreement(before: Rgb8Image, after: Rgb8Image, mask: Uint8Array) {
  let outside = 0, inside = 0, masked = 0;
  for (let p = 0; p < mask.length; p++) {
    const changed = before.data[p * 3] !== after.data[p * 3] ||
      before.data[p * 3 + 1] !== after.data[p * 3 + 1] || before.data[p * 3 + 2] !== after.data[p * 3 + 2];
    if (mask[p]) {
      masked++;
      if (changed) inside++;
    } else if (changed) outside++;
  }
  return { outside, inside, masked };
}

let bottle: Rgb8Image | undefined;
async function loadBottle(): Promise<Rgb8Image> {
  bottle ??= await decodeImage(
    await Deno.readFile(sharedPath("datasets/mvtec-ad/bottle/train/good/000.png")),
  );
  return bottle;
}

for (const kind of DEFECT_KINDS) {
  Deno.test(`createProceduralSynthesizer() marks exactly the changed pixels when painting a ${kind}`, () => {
    const normal = texturedImage(160, 120);
    const before = normal.data.slice();
    const synth = createProceduralSynthesizer({ kinds: [kind] });
    for (let seed = 0; seed < 6; seed++) {
      const out = synth.synthesize(normal, new Random(seed));
      strictEqual(out.kind, kind);
      strictEqual(out.mask.length, 160 * 120);
      const { outside, inside, masked } = maskAgreement(normal, out.image, out.mask);
      strictEqual(outside, 0, `seed ${seed}: ${outside} pixels changed outside the mask`);
      ok(masked > 0 && inside >= 0.5 * masked, `seed ${seed}: ${inside} of ${masked} masked pixels changed`);
    }
    ok(normal.data.every((v, i) => v === before[i]), "the normal image was modified");
  });

  Deno.test(
    `createProceduralSynthesizer() paints a ${kind} over 0.1–30 % of a real bottle image`,
    needsShared,
    async () => {
      const normal = await loadBottle();
      const synth = createProceduralSynthesizer({ kinds: [kind] });
      for (let seed = 0; seed < 5; seed++) {
        const out = synth.synthesize(normal, new Random(1000 + seed));
        const { outside, inside } = maskAgreement(normal, out.image, out.mask);
        strictEqual(outside, 0);
        const share = inside / (normal.width * normal.height);
        ok(
          share >= 0.001 && share <= 0.3,
          `seed ${seed}: ${kind} changed ${(share * 100).toFixed(3)} % of the image`,
        );
      }
    },
  );
}

Deno.test(
  "createProceduralSynthesizer() keeps defects on the bottle when placement is object",
  needsShared,
  async () => {
    const normal = await loadBottle();
    const foreground = estimateForeground(normal)!;
    const backdropShare = (placement: "object" | "anywhere") => {
      const synth = createProceduralSynthesizer({ placement });
      let off = 0, all = 0;
      for (let seed = 0; seed < 40; seed++) {
        const { mask } = synth.synthesize(normal, new Random(seed));
        for (let p = 0; p < mask.length; p++) {
          if (!mask[p]) continue;
          all++;
          if (foreground[p] < 128) off++;
        }
      }
      return off / all;
    };
    const onObject = backdropShare("object");
    const anywhere = backdropShare("anywhere");
    // The bottle covers 60 % of the frame: placed anywhere, about a third of defect pixels land on white.
    ok(
      onObject < 0.05,
      `object placement left ${(onObject * 100).toFixed(1)} % of defect pixels on the backdrop`,
    );
    ok(anywhere > 0.15, `anywhere placement put only ${(anywhere * 100).toFixed(1)} % on the backdrop`);
  },
);

Deno.test("createProceduralSynthesizer() keeps a greyscale image grey", () => {
  const normal = texturedImage(120, 120, true);
  const synth = createProceduralSynthesizer();
  for (let seed = 0; seed < 15; seed++) {
    const { image } = synth.synthesize(normal, new Random(seed));
    for (let p = 0; p < image.width * image.height; p++) {
      const [r, g, b] = image.data.subarray(p * 3, p * 3 + 3);
      if (r !== g || g !== b) throw new Error(`seed ${seed}: pixel ${p} is (${r}, ${g}, ${b})`);
    }
  }
});

Deno.test("createProceduralSynthesizer() draws only the kinds it is given", () => {
  const synth = createProceduralSynthesizer({ kinds: ["scar", "spot"] });
  const normal = texturedImage(64, 64);
  const seen = new Set<string>();
  for (let seed = 0; seed < 20; seed++) seen.add(synth.synthesize(normal, new Random(seed)).kind);
  strictEqual([...seen].sort().join(","), "scar,spot");
  strictEqual(synth.name, "procedural");
});

Deno.test("createProceduralSynthesizer() refuses no kinds, an unknown kind and an unknown placement", () => {
  throws(() => createProceduralSynthesizer({ kinds: [] }), ConfigError);
  throws(() => createProceduralSynthesizer({ kinds: ["dent" as never] }), ConfigError);
  throws(() => createProceduralSynthesizer({ placement: "edge" as never }), ConfigError);
});
