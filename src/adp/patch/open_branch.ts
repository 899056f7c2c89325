/**
 * Opening the patch branch's parts that settings name: the extractor, an ONNX backbone refused when
 * its model changed since enrollment, and the memory of normal patches searching as the settings say.
 *
 * @module
 */
import type { ClipModel, Precision } from "../../model/mod.ts";
import type { Device } from "../../onnx/mod.ts";
import { ProfileError } from "../../errors.ts";
import { backboneSha256, loadBackboneConfig } from "./backbone_config.ts";
import { clipExtractor } from "./clip_extractor.ts";
import type { FeatureExtractor } from "./feature_extractor.ts";
import { openOnnxExtractor } from "./onnx_extractor.ts";
import type { PatchFeatures } from "./patch_features.ts";
import { PatchMemory } from "./patch_memory.ts";
import type { PatchExtractorSpec, PatchSettings } from "./settings.ts";

/** Opens the extractor a spec names; an ONNX backbone whose file changed is refused. */
export async function openPatchExtractor(
  clip: ClipModel,
  spec: PatchExtractorSpec,
  opts: { device?: Device } = {},
): Promise<FeatureExtractor> {
  if (spec.kind === "clip") return clipExtractor(clip, { blocks: spec.blocks });
  const config = await loadBackboneConfig(spec.config);
  const sha256 = await backboneSha256(config);
  if (sha256 !== spec.sha256) {
    throw new ProfileError(
      `The patch backbone ${config.onnx} changed since enrollment (sha256 ${
        sha256.slice(0, 12)
      }…, enrolled with ${spec.sha256.slice(0, 12)}…): enroll the station again`,
      { file: spec.config },
    );
  }
  return await openOnnxExtractor(config, {
    layers: spec.layers.map((name) => ({ name })),
    inputSize: { width: spec.inputSize, height: spec.inputSize },
    intensity: spec.intensity,
    precision: spec.precision,
    pool: spec.pool,
    device: opts.device,
    log: () => {},
  });
}

/**
 * The memory for a bank of normal patches, searching as the settings say, on `device` (default
 * auto), in int8 beside an int8 vision graph (`precision`), else float32.
 */
export async function openPatchMemory(
  bank: PatchFeatures | readonly PatchFeatures[],
  settings: Pick<PatchSettings, "imageScore" | "selfRadius" | "edgeExcess">,
  opts: { device?: Device; precision?: Precision } = {},
): Promise<PatchMemory> {
  return await PatchMemory.create(bank, {
    imageScore: settings.imageScore,
    selfRadius: settings.selfRadius ?? undefined,
    edgeExcess: settings.edgeExcess,
    precision: opts.precision === "int8" ? "int8" : "fp32",
    ...(opts.device ? { session: { device: opts.device } } : {}),
  });
}
