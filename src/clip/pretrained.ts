/**
 * Known CLIP checkpoints on the Hugging Face hub, in the two on-disk layouts this project reads.
 * Names follow OpenCLIP's `architecture:tag` convention so that they read the same as in its
 * `list_pretrained()`. This table is data: `pullModel` in `hub_download.ts` fetches what it lists.
 *
 * @module
 */
import type { ArchitectureName } from "./architectures.ts";
import type { Activation } from "./config.ts";
import type { CheckpointLayout } from "./checkpoint_layout.ts";

/** The files of one checkpoint, as paths inside its hub repository. */
export interface PretrainedFiles {
  /** The weights, always safetensors (pickled `.bin`/`.pt` files are never fetched). */
  readonly weights: string;
  /** The architecture config that goes with the weights' layout. */
  readonly config: string;
  /** CLIP's BPE: `vocab.json` + `merges.txt`, or OpenAI's `bpe_simple_vocab_16e6.txt.gz`. */
  readonly tokenizer: readonly string[];
}

/** One pullable checkpoint. */
export interface PretrainedModel {
  /** Registry name, `architecture:tag` as in OpenCLIP. */
  readonly name: string;
  /** Hugging Face repository id, `owner/name`. */
  readonly repo: string;
  /** Branch, tag or full commit id to resolve files at. */
  readonly revision: string;
  /** The shape in `architectures.ts` the weights must have. */
  readonly architecture: ArchitectureName;
  /** `openclip` (open_clip_* files, OpenAI state-dict names) or `hf` (transformers names). */
  readonly layout: CheckpointLayout;
  /** Where weights, config and tokenizer lie in the repository. */
  readonly files: PretrainedFiles;
  /** The MLP activation the weights were trained with; a loader must not guess it. */
  readonly activation: Activation;
  /** One line for `adp models` listings. */
  readonly description: string;
}

const HF_BPE = ["vocab.json", "merges.txt"] as const;

// Revisions track `main` because no commit id of these repositories could be checked when this
// table was written; `pullModel` reports the commit it resolved (X-Repo-Commit) so an entry can be
// pinned to a full 40-character commit id later.
const MODELS: readonly PretrainedModel[] = [
  {
    name: "ViT-B-16:openai",
    repo: "openai/clip-vit-base-patch16",
    revision: "main",
    architecture: "vit-b-16",
    layout: "hf",
    files: { weights: "model.safetensors", config: "config.json", tokenizer: HF_BPE },
    activation: "quick_gelu",
    description: "OpenAI CLIP ViT-B/16, 224 px, 14x14 patch grid",
  },
  {
    name: "ViT-L-14:openai",
    repo: "openai/clip-vit-large-patch14",
    revision: "main",
    architecture: "vit-l-14",
    layout: "hf",
    files: { weights: "model.safetensors", config: "config.json", tokenizer: HF_BPE },
    activation: "quick_gelu",
    description: "OpenAI CLIP ViT-L/14, 224 px, 16x16 patch grid",
  },
  {
    name: "ViT-H-14:laion2b_s32b_b79k",
    repo: "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
    revision: "main",
    architecture: "vit-h-14",
    layout: "openclip",
    files: {
      weights: "open_clip_model.safetensors",
      config: "open_clip_config.json",
      tokenizer: HF_BPE,
    },
    activation: "gelu",
    description: "OpenCLIP ViT-H/14 trained on LAION-2B, 224 px, 16x16 patch grid",
  },
  {
    // The checkpoint WinCLIP-style few-shot methods use; timm's copy is the one OpenCLIP's
    // `pretrained.py` points at for hub downloads of this architecture.
    name: "ViT-B-16-plus-240:laion400m_e31",
    repo: "timm/vit_base_patch16_plus_clip_240.laion400m_e31",
    revision: "main",
    architecture: "vit-b-16-plus-240",
    layout: "openclip",
    files: {
      weights: "open_clip_model.safetensors",
      config: "open_clip_config.json",
      tokenizer: HF_BPE,
    },
    activation: "gelu",
    description: "OpenCLIP ViT-B/16+ trained on LAION-400M (epoch 31), 240 px, 15x15 patch grid",
  },
];

/**
 * Every checkpoint in the registry, in a stable order.
 *
 * @returns the registry entries
 *
 * @example Listing the registry
 * ```ts
 * import { listPretrained } from "./pretrained.ts";
 * import assert from "node:assert/strict";
 *
 * const names = listPretrained().map((m) => m.name);
 * assert.ok(names.includes("ViT-B-16:openai"));
 * ```
 */
export function listPretrained(): readonly PretrainedModel[] {
  return MODELS;
}

/**
 * Looks a checkpoint up by registry name or by its hub repository id. Names match regardless of
 * case, so `vit-b-16:openai` (the spelling of `architectures.ts`) finds `ViT-B-16:openai`; in the
 * tag, `-` and `_` are the same, as OpenCLIP normalises tags.
 *
 * @param nameOrRepo `architecture:tag` or `owner/name`
 * @returns the entry, or `undefined` when the registry does not know it
 *
 * @example Finding an entry by name or by repository
 * ```ts
 * import { findPretrained } from "./pretrained.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(findPretrained("ViT-H-14:LAION2B-S32B-B79K")?.layout, "openclip");
 * assert.equal(findPretrained("vit-b-16-plus-240:laion400m-e31")?.architecture, "vit-b-16-plus-240");
 * assert.equal(findPretrained("openai/clip-vit-base-patch16")?.name, "ViT-B-16:openai");
 * assert.equal(findPretrained("ViT-B-99:nothing"), undefined);
 * ```
 */
export function findPretrained(nameOrRepo: string): PretrainedModel | undefined {
  const wanted = _normaliseName(nameOrRepo);
  return MODELS.find((m) => _normaliseName(m.name) === wanted || m.repo === nameOrRepo);
}

/**
 * The repository paths to fetch for an entry: weights first (the large one), then config and tokenizer.
 *
 * @param model a registry entry
 * @returns the file paths inside the repository
 *
 * @example Files of a Hugging Face layout checkpoint
 * ```ts
 * import { findPretrained, pretrainedFiles } from "./pretrained.ts";
 * import assert from "node:assert/strict";
 *
 * const files = pretrainedFiles(findPretrained("ViT-B-16:openai")!);
 * assert.deepEqual(files, ["model.safetensors", "config.json", "vocab.json", "merges.txt"]);
 * ```
 */
export function pretrainedFiles(model: PretrainedModel): string[] {
  return [model.files.weights, model.files.config, ...model.files.tokenizer];
}

function _normaliseName(name: string): string {
  const lower = name.toLowerCase();
  const colon = lower.indexOf(":");
  return colon < 0 ? lower : `${lower.slice(0, colon)}:${lower.slice(colon + 1).replaceAll("-", "_")}`;
}
