/**
 * CLIP's byte-level BPE tokenizer, matching OpenAI's `SimpleTokenizer` id for id. It reads either OpenAI's
 * `bpe_simple_vocab_16e6.txt.gz` or a Hugging Face directory's `vocab.json` + `merges.txt`.
 *
 * @module
 */
import { gunzipSync } from "node:zlib";
import { basename, dirname, join } from "node:path";
import { TokenizerError } from "../errors.ts";
import { cleanText, REGEX_SPACE } from "./_text_clean.ts";

const START_OF_TEXT = "<|startoftext|>";
const END_OF_TEXT = "<|endoftext|>";
const END_OF_WORD = "</w>";

/** OpenAI's file holds far more merges than CLIP was trained with; CLIP keeps the first 49152 - 256 - 2. */
const CLIP_MERGE_COUNT = 49152 - 256 - 2;
const OPENAI_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz";
const HF_VOCAB_FILE = "vocab.json";
const HF_MERGES_FILE = "merges.txt";
const DEFAULT_CONTEXT_LENGTH = 77;

/** Bounds the memory a long-running service spends on words it has already split. */
const BPE_CACHE_LIMIT = 20_000;

/**
 * CLIP's pre-tokenizer. OpenAI compiles it case-insensitively; on lowercased text that only lets "ſ" stand
 * for "s" in the literals, and makes U+0345 (which folds to a letter) match no branch at all, so it splits
 * words and is dropped. Both are spelt out here instead, because JavaScript's `i` flag would count U+0345 as a
 * letter. The `regex` module's `\s` replaces JavaScript's.
 */
const PRETOKEN_REGEXP = new RegExp(
  `<\\|[s\u017f]tartoftext\\|>|<\\|endoftext\\|>|'[s\u017f]|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|` +
    `[^${REGEX_SPACE}\\p{L}\\p{N}\u0345]+`,
  "gu",
);

/**
 * GPT-2's bytes_to_unicode, in the order OpenAI lists it (the first 256 vocabulary ids): printable
 * Latin-1 bytes stand for themselves, the others are moved to U+0100 onwards so no token holds
 * whitespace or a control character.
 */
const BYTE_ORDER: readonly number[] = byteOrder();
const BYTE_TO_CHAR: readonly string[] = byteToChar();

const UTF8 = new TextEncoder();

/** Options for {@linkcode ClipTokenizer.tokenize}. */
export interface TokenizeOptions {
  /**
   * Length of each sequence at most, start and end tokens included; longer ones are cut and end with
   * the end token.
   *
   * @default {77}
   */
  contextLength?: number;
}

/**
 * A loaded CLIP tokenizer.
 *
 * @example Tokenize a prompt
 * ```ts
 * import assert from "node:assert/strict";
 * const tokenizer = await loadTokenizer("../shared/fixtures/clip-oracle/tokenizer");
 * assert.deepEqual(tokenizer.tokenize(["a photo of a flawless object."]), [
 *   [49406, 320, 1125, 539, 320, 15531, 14115, 269, 49407],
 * ]);
 * assert.equal(tokenizer.tokenId("sks"), 48136);
 * ```
 */
export class ClipTokenizer {
  #encoder: ReadonlyMap<string, number>;
  /** Merge "left right" → priority, lower first. */
  #ranks: Map<string, number>;
  #cache = new Map<string, readonly number[]>();
  #startToken: number;
  #endToken: number;
  #vocabSize: number;

  /**
   * Builds a tokenizer from a vocabulary and its merges. Most callers want {@linkcode loadTokenizer}.
   *
   * @param vocab token → id, with every byte symbol, every byte symbol plus `</w>`, every merge result and
   *   both special tokens
   * @param merges merge rules "left right", highest priority first
   * @param opts `source` names the file(s) the data came from, for error messages
   * @throws {TokenizerError} when a merge is not "left right" or a token the algorithm can produce has no id
   */
  constructor(vocab: ReadonlyMap<string, number>, merges: readonly string[], opts: { source?: string } = {}) {
    const where = opts.source ?? "in-memory vocabulary";
    const malformed = (detail: string) =>
      new TokenizerError(`Malformed tokenizer vocabulary: ${detail}: ${where}`);
    const ranks = new Map<string, number>();
    for (let rank = 0; rank < merges.length; rank++) {
      const merge = merges[rank];
      const space = merge.indexOf(" ");
      if (space <= 0 || space === merge.length - 1 || merge.indexOf(" ", space + 1) !== -1) {
        throw malformed(
          `merge ${rank + 1} is not two symbols separated by one space (${JSON.stringify(merge)})`,
        );
      }
      const result = merge.slice(0, space) + merge.slice(space + 1);
      if (!vocab.has(result)) throw malformed(`merge result ${JSON.stringify(result)} has no id`);
      ranks.set(merge, rank);
    }
    // Checked once here so that encoding can never meet a symbol without an id.
    for (const char of BYTE_TO_CHAR) {
      if (!vocab.has(char) || !vocab.has(char + END_OF_WORD)) {
        throw malformed(`byte symbol ${JSON.stringify(char)} has no id`);
      }
    }
    const startToken = vocab.get(START_OF_TEXT);
    const endToken = vocab.get(END_OF_TEXT);
    if (startToken === undefined || endToken === undefined) {
      throw malformed(`${START_OF_TEXT} or ${END_OF_TEXT} has no id`);
    }
    let maxId = -1;
    for (const id of vocab.values()) {
      if (!Number.isInteger(id) || id < 0) throw malformed(`id ${id} is not a non-negative integer`);
      if (id > maxId) maxId = id;
    }
    this.#encoder = vocab;
    this.#ranks = ranks;
    this.#startToken = startToken;
    this.#endToken = endToken;
    this.#vocabSize = maxId + 1;
  }

  /** Id of `<|startoftext|>` (49406 in CLIP). */
  get startToken(): number {
    return this.#startToken;
  }

  /** Id of `<|endoftext|>` (49407 in CLIP). */
  get endToken(): number {
    return this.#endToken;
  }

  /** One more than the largest id: the rows a token-embedding table needs (49408 in CLIP). */
  get vocabSize(): number {
    return this.#vocabSize;
  }

  /**
   * BPE ids of a text, after CLIP's cleaning, without start and end tokens.
   *
   * @param text any text
   * @returns the ids
   *
   * @example Encode a word
   * ```ts
   * import assert from "node:assert/strict";
   * const tokenizer = await loadTokenizer("../shared/fixtures/clip-oracle/tokenizer");
   * assert.deepEqual(tokenizer.encode("Flawless object"), [15531, 14115]);
   * ```
   */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const match of cleanText(text).matchAll(PRETOKEN_REGEXP)) {
      for (const id of this.#bpe(byteEncode(match[0]))) ids.push(id);
    }
    return ids;
  }

  /**
   * Token ids for a batch of prompts, as CLIP's text tower takes them but without padding.
   *
   * @param texts the prompts
   * @param opts `contextLength`, 77 by default
   * @returns per prompt: start token, BPE ids, end token, cut to `contextLength` with the end token kept last
   * @throws {TokenizerError} when `contextLength` is not an integer of at least 2
   *
   * @example Cut a long prompt
   * ```ts
   * import assert from "node:assert/strict";
   * const tokenizer = await loadTokenizer("../shared/fixtures/clip-oracle/tokenizer");
   * const [ids] = tokenizer.tokenize(["a photo of a flawless object."], { contextLength: 4 });
   * assert.deepEqual(ids, [49406, 320, 1125, 49407]);
   * ```
   */
  tokenize(texts: readonly string[], opts: TokenizeOptions = {}): number[][] {
    const contextLength = opts.contextLength ?? DEFAULT_CONTEXT_LENGTH;
    if (!Number.isInteger(contextLength) || contextLength < 2) {
      throw new TokenizerError(`Context length must be an integer of at least 2: ${contextLength}`);
    }
    return texts.map((text) => {
      const ids = [this.#startToken, ...this.encode(text), this.#endToken];
      if (ids.length > contextLength) {
        ids.length = contextLength;
        ids[contextLength - 1] = this.#endToken;
      }
      return ids;
    });
  }

  /**
   * The id of a word that CLIP encodes as exactly one token, such as a textual-inversion placeholder.
   *
   * @param word the word, cleaned as any prompt is
   * @returns its id
   * @throws {TokenizerError} when the word encodes to no token or to several
   *
   * @example Find the placeholder's id
   * ```ts
   * import assert from "node:assert/strict";
   * const tokenizer = await loadTokenizer("../shared/fixtures/clip-oracle/tokenizer");
   * assert.equal(tokenizer.tokenId("sks"), 48136);
   * ```
   */
  tokenId(word: string): number {
    const ids = this.encode(word);
    if (ids.length !== 1) {
      throw new TokenizerError(
        `Word is not a single token: ${JSON.stringify(word)} encodes to ${ids.length}`,
      );
    }
    return ids[0];
  }

  #bpe(token: string): readonly number[] {
    // OpenAI seeds its cache with the special tokens so they are never split; this cache can evict them.
    if (token === START_OF_TEXT) return [this.#startToken];
    if (token === END_OF_TEXT) return [this.#endToken];
    const cached = this.#cache.get(token);
    if (cached) return cached;
    const ids = this.#merge(token).map((symbol) => this.#encoder.get(symbol)!);
    if (this.#cache.size >= BPE_CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(token, ids);
    return ids;
  }

  /** Applies the best-ranked merge everywhere, left to right, until none applies: OpenAI's loop. */
  #merge(token: string): string[] {
    // Byte symbols are all below U+0144, so code units are symbols.
    let word = token.split("");
    word[word.length - 1] += END_OF_WORD;
    while (word.length > 1) {
      let bestRank = Infinity;
      let best = -1;
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.#ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best];
      const second = word[best + 1];
      const merged: string[] = [];
      for (let i = 0; i < word.length;) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i]);
          i += 1;
        }
      }
      word = merged;
    }
    return word;
  }
}

/**
 * Loads CLIP's tokenizer from a model directory or a vocabulary file.
 *
 * A directory is searched for OpenAI's `bpe_simple_vocab_16e6.txt.gz`, else for Hugging Face's
 * `vocab.json` with `merges.txt`. A file is read as Hugging Face's when it is `vocab.json` or
 * `merges.txt` (the other one beside it), otherwise as OpenAI's BPE file, gzipped or not.
 *
 * @param source a directory or a file path
 * @returns the tokenizer
 * @throws {TokenizerError} when nothing usable is found or a file is malformed
 *
 * @example Load OpenAI's vocabulary
 * ```ts
 * import assert from "node:assert/strict";
 * const tokenizer = await loadTokenizer("../shared/fixtures/clip-oracle/tokenizer");
 * assert.equal(tokenizer.vocabSize, 49408);
 * ```
 */
export async function loadTokenizer(source: string): Promise<ClipTokenizer> {
  const info = await statOrUndefined(source);
  if (!info) throw new TokenizerError(`Tokenizer source not found: ${source}`);
  if (info.isDirectory) {
    const bpePath = join(source, OPENAI_BPE_FILE);
    if (await isFile(bpePath)) return loadOpenAiBpe(bpePath);
    const vocabPath = join(source, HF_VOCAB_FILE);
    const mergesPath = join(source, HF_MERGES_FILE);
    const hasVocab = await isFile(vocabPath);
    const hasMerges = await isFile(mergesPath);
    if (hasVocab && hasMerges) return loadHuggingFace(vocabPath, mergesPath);
    const found = hasVocab
      ? ` (found ${HF_VOCAB_FILE} only)`
      : hasMerges
      ? ` (found ${HF_MERGES_FILE} only)`
      : "";
    throw new TokenizerError(
      `Tokenizer vocabulary not found: looked for ${OPENAI_BPE_FILE}, or ${HF_VOCAB_FILE} with ${HF_MERGES_FILE}, ` +
        `in ${source}${found}`,
    );
  }
  const name = basename(source);
  if (name === HF_MERGES_FILE || name.endsWith(".json")) {
    const vocabPath = name === HF_MERGES_FILE ? join(dirname(source), HF_VOCAB_FILE) : source;
    const mergesPath = name === HF_MERGES_FILE ? source : join(dirname(source), HF_MERGES_FILE);
    const missing = name === HF_MERGES_FILE ? vocabPath : mergesPath;
    if (!(await isFile(missing))) {
      throw new TokenizerError(`Tokenizer vocabulary not found: ${missing} is needed beside ${source}`);
    }
    return loadHuggingFace(vocabPath, mergesPath);
  }
  return loadOpenAiBpe(source);
}

/** OpenAI's layout: a header line, then merges; ids follow from the order alone. */
async function loadOpenAiBpe(path: string): Promise<ClipTokenizer> {
  let bytes = await readBytes(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (cause) {
      throw new TokenizerError(`Malformed tokenizer vocabulary: corrupt gzip data: ${path}`, { cause });
    }
  }
  // Only the header and the merges CLIP uses are decoded; the file has five times as many.
  const lineEnds: number[] = [];
  for (let at = bytes.indexOf(0x0a); at !== -1 && lineEnds.length <= CLIP_MERGE_COUNT;) {
    lineEnds.push(at);
    at = bytes.indexOf(0x0a, at + 1);
  }
  const end = lineEnds.length > CLIP_MERGE_COUNT ? lineEnds[CLIP_MERGE_COUNT] : bytes.length;
  const lines = decodeUtf8(bytes.subarray(0, end), path).split("\n").slice(1);
  if (lines.at(-1) === "") lines.pop();
  if (lines.length < CLIP_MERGE_COUNT) {
    throw new TokenizerError(
      `Malformed tokenizer vocabulary: expected ${CLIP_MERGE_COUNT} merges after the header line, found ` +
        `${lines.length}: ${path}`,
    );
  }
  const merges = lines.map(trimCarriageReturn);
  const vocab = new Map<string, number>();
  for (const byte of BYTE_ORDER) vocab.set(BYTE_TO_CHAR[byte], vocab.size);
  for (const byte of BYTE_ORDER) vocab.set(BYTE_TO_CHAR[byte] + END_OF_WORD, vocab.size);
  // Python's dict(zip(vocab, range(...))) keeps the last id of a repeated token, and so does this.
  let id = vocab.size;
  for (const merge of merges) vocab.set(merge.replace(" ", ""), id++);
  vocab.set(START_OF_TEXT, id++);
  vocab.set(END_OF_TEXT, id++);
  return new ClipTokenizer(vocab, merges, { source: path });
}

/**
 * Writes a small vocabulary in Hugging Face's layout (`vocab.json` + `merges.txt`) into `dir`: every
 * byte symbol, both special tokens, and merges that make each of `words` one token. For tiny random
 * models, which need a tokenizer but no real vocabulary (the project does not ship CLIP's): any text
 * still encodes (unknown words as several tokens), and ids stay below 49408.
 *
 * @param dir the folder (created if needed)
 * @param words lowercase words to become single tokens, e.g. a textual-inversion placeholder
 * @returns the vocabulary's size (the rows a token embedding needs)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await writeTinyVocabulary(dir, ["sks", "object"]);
 * const tokenizer = await loadTokenizer(dir);
 * assert.equal(tokenizer.encode("a sks").length, 2);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeTinyVocabulary(dir: string, words: readonly string[]): Promise<number> {
  const tokens = [
    ...BYTE_ORDER.map((b) => BYTE_TO_CHAR[b]),
    ...BYTE_ORDER.map((b) => BYTE_TO_CHAR[b] + END_OF_WORD),
  ];
  const merges: string[] = [];
  const known = new Set(tokens);
  for (const word of words) {
    const symbols = byteEncode(word).split("");
    symbols[symbols.length - 1] += END_OF_WORD;
    let prefix = symbols[0];
    for (const symbol of symbols.slice(1)) {
      const merged = prefix + symbol;
      if (!known.has(merged)) {
        known.add(merged);
        tokens.push(merged);
        merges.push(`${prefix} ${symbol}`);
      }
      prefix = merged;
    }
  }
  tokens.push(START_OF_TEXT, END_OF_TEXT);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, HF_VOCAB_FILE),
    JSON.stringify(Object.fromEntries(tokens.map((t, i) => [t, i]))),
  );
  await Deno.writeTextFile(join(dir, HF_MERGES_FILE), ["#version: 0.2", ...merges, ""].join("\n"));
  return tokens.length;
}

/** Hugging Face's layout: ids from vocab.json, merges after a `#version` header line. */
async function loadHuggingFace(vocabPath: string, mergesPath: string): Promise<ClipTokenizer> {
  let json: unknown;
  try {
    json = JSON.parse(decodeUtf8(await readBytes(vocabPath), vocabPath));
  } catch (cause) {
    if (cause instanceof TokenizerError) throw cause;
    throw new TokenizerError(`Malformed tokenizer vocabulary: not valid JSON: ${vocabPath}`, { cause });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new TokenizerError(
      `Malformed tokenizer vocabulary: expected a JSON object of token ids: ${vocabPath}`,
    );
  }
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(json)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new TokenizerError(
        `Malformed tokenizer vocabulary: id of ${
          JSON.stringify(token)
        } is not a non-negative integer: ${vocabPath}`,
      );
    }
    vocab.set(token, id);
  }
  const lines = decodeUtf8(await readBytes(mergesPath), mergesPath).split("\n").map(trimCarriageReturn);
  const body = lines[0]?.startsWith("#version") ? lines.slice(1) : lines;
  const merges = body.filter((line) => line !== "");
  return new ClipTokenizer(vocab, merges, { source: `${vocabPath} with ${mergesPath}` });
}

function byteEncode(text: string): string {
  let out = "";
  for (const byte of UTF8.encode(text)) out += BYTE_TO_CHAR[byte];
  return out;
}

function byteOrder(): number[] {
  const printable: number[] = [];
  const others: number[] = [];
  for (let byte = 0; byte < 256; byte++) {
    const isPrintable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
    (isPrintable ? printable : others).push(byte);
  }
  return [...printable, ...others];
}

function byteToChar(): string[] {
  const table = new Array<string>(256);
  let moved = 0;
  for (let byte = 0; byte < 256; byte++) {
    const isPrintable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
    table[byte] = String.fromCharCode(isPrintable ? byte : 0x100 + moved++);
  }
  return table;
}

function trimCarriageReturn(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new TokenizerError(`Malformed tokenizer vocabulary: not UTF-8 text: ${path}`, { cause });
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (cause) {
    throw new TokenizerError(`Tokenizer vocabulary could not be read: ${path}`, { cause });
  }
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotFound) return undefined;
    throw new TokenizerError(`Tokenizer source could not be read: ${path}`, { cause });
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await statOrUndefined(path))?.isFile ?? false;
}
