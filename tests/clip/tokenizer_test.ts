import assert from "node:assert/strict";
import { gunzipSync, gzipSync } from "node:zlib";
import { join } from "node:path";
import { type ClipTokenizer, loadTokenizer } from "../../src/clip/tokenizer.ts";
import { TokenizerError } from "../../src/errors.ts";
import { needsShared, sharedPath } from "../_shared.ts";
import { tempDir } from "../_temp_dir.ts";

const TOKENIZER_DIR = sharedPath("fixtures", "clip-oracle", "tokenizer");
const BPE_FILE = "bpe_simple_vocab_16e6.txt.gz";
const CLIP_MERGE_COUNT = 49152 - 256 - 2;

interface ReferenceCase {
  text: string;
  ids: number[];
}

interface TokenizerReference {
  context_length: number;
  cases: ReferenceCase[];
}

let openAi: Promise<ClipTokenizer> | undefined;

/** One load shared by the tests that only read from it. */
function openAiTokenizer(): Promise<ClipTokenizer> {
  openAi ??= loadTokenizer(TOKENIZER_DIR);
  return openAi;
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

function readReference(): Promise<TokenizerReference> {
  return readJson<TokenizerReference>(join(TOKENIZER_DIR, "reference.json"));
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  await using tmp = await tempDir("adp_tokenizer_");
  const dir = tmp.path;
  await fn(dir);
}

async function assertTokenizerError(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TokenizerError, `expected a TokenizerError, got ${error}`);
    assert.match(error.message, message);
    return true;
  });
}

/** GPT-2's byte symbols in OpenAI's order, written independently of the code under test. */
function byteSymbols(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const symbols = printable.map((b) => String.fromCharCode(b));
  let moved = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) symbols.push(String.fromCharCode(256 + moved++));
  }
  return symbols;
}

/** Lays OpenAI's BPE file out as Hugging Face ships CLIP: vocab.json (token → id) and merges.txt. */
async function writeHuggingFaceFiles(
  dir: string,
): Promise<{ vocab: Record<string, number>; merges: string[] }> {
  const text = new TextDecoder().decode(gunzipSync(await Deno.readFile(join(TOKENIZER_DIR, BPE_FILE))));
  const merges = text.split("\n").slice(1, CLIP_MERGE_COUNT + 1);
  const bytes = byteSymbols();
  const tokens = [
    ...bytes,
    ...bytes.map((symbol) => symbol + "</w>"),
    ...merges.map((merge) => merge.replace(" ", "")),
    "<|startoftext|>",
    "<|endoftext|>",
  ];
  const vocab = Object.fromEntries(tokens.map((token, id) => [token, id]));
  await Deno.writeTextFile(join(dir, "vocab.json"), JSON.stringify(vocab));
  await Deno.writeTextFile(join(dir, "merges.txt"), `#version: 0.2\n${merges.join("\n")}\n`);
  return { vocab, merges };
}

Deno.test("tokenize() matches OpenAI's ids for every reference case", needsShared, async () => {
  const reference = await readReference();
  const tokenizer = await openAiTokenizer();
  assert.ok(reference.cases.length >= 13, `only ${reference.cases.length} reference cases`);
  const got = tokenizer.tokenize(reference.cases.map((c) => c.text), {
    contextLength: reference.context_length,
  });
  reference.cases.forEach((c, i) => assert.deepEqual(got[i], c.ids, `ids of ${JSON.stringify(c.text)}`));
});

Deno.test("encode() returns the reference ids without start and end tokens", needsShared, async () => {
  const reference = await readReference();
  const tokenizer = await openAiTokenizer();
  for (const c of reference.cases.filter((c) => c.ids.length < reference.context_length)) {
    assert.deepEqual(tokenizer.encode(c.text), c.ids.slice(1, -1), `ids of ${JSON.stringify(c.text)}`);
  }
});

Deno.test("ClipTokenizer getters report CLIP's special tokens and vocabulary size", needsShared, async () => {
  const tokenizer = await openAiTokenizer();
  assert.equal(tokenizer.startToken, 49406);
  assert.equal(tokenizer.endToken, 49407);
  assert.equal(tokenizer.vocabSize, 49408);
});

Deno.test(
  "tokenId() returns the placeholder and init-word ids the CLIP oracle uses",
  needsShared,
  async () => {
    const oracle = await readJson<
      { placeholder_word: string; placeholder_token_id: number; concept_init_word: string }
    >(
      sharedPath("fixtures", "clip-oracle", "tiny-quickgelu-openclip", "reference.json"),
    );
    const tokenizer = await openAiTokenizer();
    assert.equal(tokenizer.tokenId(oracle.placeholder_word), oracle.placeholder_token_id);
    assert.equal(tokenizer.tokenId("sks"), 48136);
    // "object" is the last word of the first reference case, whose ids end 14115, 269 ("."), 49407.
    assert.equal(tokenizer.tokenId(oracle.concept_init_word), 14115);
  },
);

Deno.test("tokenId() throws TokenizerError when the word is not exactly one token", needsShared, async () => {
  const tokenizer = await openAiTokenizer();
  for (const word of ["flawless object", "transistor", "", "   "]) {
    assert.throws(() => tokenizer.tokenId(word), (error: unknown) => {
      assert.ok(error instanceof TokenizerError);
      assert.match(error.message, /^Word is not a single token: /);
      return true;
    });
  }
});

Deno.test(
  "tokenize() cuts to contextLength keeping the end token last, without padding",
  needsShared,
  async () => {
    const tokenizer = await openAiTokenizer();
    const [long, short] = tokenizer.tokenize(["a photo of a flawless object.", "sks"], { contextLength: 5 });
    assert.deepEqual(long, [49406, 320, 1125, 539, 49407]);
    assert.deepEqual(short, [49406, 48136, 49407]);
    const [exact] = tokenizer.tokenize(["a photo of"], { contextLength: 5 });
    assert.deepEqual(exact, [49406, 320, 1125, 539, 49407]);
    assert.deepEqual(tokenizer.tokenize([]), []);
  },
);

Deno.test(
  "tokenize() throws TokenizerError when contextLength is not an integer of at least 2",
  needsShared,
  async () => {
    const tokenizer = await openAiTokenizer();
    for (const contextLength of [1, 0, -3, 2.5, Number.NaN]) {
      assert.throws(() => tokenizer.tokenize(["a"], { contextLength }), TokenizerError);
    }
  },
);

// Ids computed with OpenAI's simple_tokenizer.py on ftfy 6.3.1: each case exercises one cleaning rule that a
// plain lowercase-and-split would get wrong.
const CLEANING_CASES: { name: string; text: string; ids: number[] }[] = [
  {
    name: "a curly apostrophe counts as a contraction",
    text: "it\u2019s \u201cfine\u201d",
    ids: [585, 568, 257, 3797, 257],
  },
  { name: "ligatures are split", text: "\ufb01ne \ufb02aw", ids: [3797, 34978] },
  {
    name: "fullwidth forms and the ideographic space are narrowed",
    text: "\uff21\uff22\uff23\u3000\uff11\uff12",
    ids: [5334, 272, 273],
  },
  { name: "no-break and thin spaces collapse", text: "a\u00a0\u2009\u202fb", ids: [320, 321] },
  { name: "decomposed accents are composed", text: "cafe\u0301", ids: [15304] },
  {
    name: "control characters and terminal escapes are removed",
    text: "\x1b[31mred\x1b[0m\x00 \ufeffbom",
    ids: [736, 19469],
  },
  { name: "C1 controls are read as Windows-1252", text: "\x93quoted\x94 \x85", ids: [257, 27706, 257, 959] },
  {
    name: "entities are decoded until none is left",
    text: "&amp;amp;lt;b&amp;amp;gt;",
    ids: [283, 321, 285],
  },
  {
    name: "legacy entities decode without a semicolon",
    text: "&copy 2024 &eacutex",
    ids: [5811, 273, 271, 273, 275, 3459, 343],
  },
  { name: "upper-case entity names are decoded", text: "P&EACUTE;REZ", ids: [43167, 15192] },
  {
    name: "numeric references follow Python's rules",
    text: "&#8217;s &#x41; &#128; &#1;x",
    ids: [568, 320, 6309, 343],
  },
  {
    name: "a literal < stops ftfy decoding entities",
    text: "<b> &amp;amp;lt;",
    ids: [283, 321, 285, 261, 3333, 282],
  },
  { name: "a long s stands for s in a contraction", text: "it'\u017f", ids: [585, 6, 129, 379] },
  { name: "U+0345 splits a word and is dropped", text: "a\u0345b", ids: [320, 321] },
  {
    name: "line and paragraph separators become spaces",
    text: "one\u2028two\u2029three\r\nfour",
    ids: [637, 1237, 2097, 2721],
  },
];

Deno.test("encode() cleans text as OpenAI's tokenizer does", needsShared, async () => {
  const tokenizer = await openAiTokenizer();
  for (const c of CLEANING_CASES) assert.deepEqual(tokenizer.encode(c.text), c.ids, c.name);
});

Deno.test(
  "loadTokenizer() reads Hugging Face vocab.json and merges.txt with identical ids",
  needsShared,
  async () => {
    const reference = await readReference();
    const openAiTexts = reference.cases.map((c) => c.text);
    await withTempDir(async (dir) => {
      await writeHuggingFaceFiles(dir);
      const hf = await loadTokenizer(dir);
      assert.deepEqual(hf.tokenize(openAiTexts), reference.cases.map((c) => c.ids));
      assert.deepEqual(CLEANING_CASES.map((c) => hf.encode(c.text)), CLEANING_CASES.map((c) => c.ids));
      assert.equal(hf.vocabSize, 49408);
      assert.equal(hf.tokenId("sks"), 48136);
      for (const file of ["vocab.json", "merges.txt"]) {
        const direct = await loadTokenizer(join(dir, file));
        assert.deepEqual(
          direct.tokenize(openAiTexts),
          reference.cases.map((c) => c.ids),
          `loaded from ${file}`,
        );
      }
    });
  },
);

Deno.test("loadTokenizer() takes Hugging Face ids from vocab.json", needsShared, async () => {
  await withTempDir(async (dir) => {
    const { vocab } = await writeHuggingFaceFiles(dir);
    [vocab["a</w>"], vocab["photo</w>"]] = [vocab["photo</w>"], vocab["a</w>"]];
    await Deno.writeTextFile(join(dir, "vocab.json"), JSON.stringify(vocab));
    const tokenizer = await loadTokenizer(dir);
    assert.deepEqual(tokenizer.encode("a photo"), [1125, 320]);
  });
});

Deno.test("loadTokenizer() reads OpenAI's BPE file by direct path, gzipped or not", needsShared, async () => {
  const reference = await readReference();
  const texts = reference.cases.map((c) => c.text);
  const expected = reference.cases.map((c) => c.ids);
  assert.deepEqual((await loadTokenizer(join(TOKENIZER_DIR, BPE_FILE))).tokenize(texts), expected);
  await withTempDir(async (dir) => {
    const plain = join(dir, "bpe_simple_vocab_16e6.txt");
    await Deno.writeFile(plain, gunzipSync(await Deno.readFile(join(TOKENIZER_DIR, BPE_FILE))));
    assert.deepEqual((await loadTokenizer(plain)).tokenize(texts), expected);
  });
});

Deno.test("loadTokenizer() throws TokenizerError naming what it looked for when files are missing", async () => {
  await withTempDir(async (dir) => {
    await assertTokenizerError(
      loadTokenizer(dir),
      /^Tokenizer vocabulary not found: looked for bpe_simple_vocab_16e6\.txt\.gz, or vocab\.json with merges\.txt, in /,
    );
    await Deno.writeTextFile(join(dir, "vocab.json"), "{}");
    await assertTokenizerError(loadTokenizer(dir), /\(found vocab\.json only\)$/);
    await assertTokenizerError(
      loadTokenizer(join(dir, "vocab.json")),
      /merges\.txt is needed beside .*vocab\.json$/,
    );
    await assertTokenizerError(loadTokenizer(join(dir, "absent")), /^Tokenizer source not found: .*absent$/);
  });
});

Deno.test(
  "loadTokenizer() throws TokenizerError when OpenAI's BPE file is malformed",
  needsShared,
  async () => {
    const gz = await Deno.readFile(join(TOKENIZER_DIR, BPE_FILE));
    const lines = new TextDecoder().decode(gunzipSync(gz)).split("\n").slice(0, CLIP_MERGE_COUNT + 1);
    await withTempDir(async (dir) => {
      const path = join(dir, BPE_FILE);
      await Deno.writeFile(path, gz.subarray(0, 4096));
      await assertTokenizerError(loadTokenizer(dir), /^Malformed tokenizer vocabulary: corrupt gzip data: /);

      await Deno.writeFile(path, gzipSync(lines.slice(0, 1001).join("\n") + "\n"));
      await assertTokenizerError(
        loadTokenizer(dir),
        /^Malformed tokenizer vocabulary: expected 48894 merges after the header line, found 1000: /,
      );

      const bad = [...lines];
      bad[500] = "th e re";
      await Deno.writeFile(path, gzipSync(bad.join("\n")));
      await assertTokenizerError(
        loadTokenizer(dir),
        /^Malformed tokenizer vocabulary: merge 500 is not two symbols/,
      );

      await Deno.writeFile(path, new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe]));
      await assertTokenizerError(loadTokenizer(dir), /^Malformed tokenizer vocabulary: /);
    });
  },
);

Deno.test(
  "loadTokenizer() throws TokenizerError when Hugging Face files are malformed",
  needsShared,
  async () => {
    await withTempDir(async (dir) => {
      const { vocab, merges } = await writeHuggingFaceFiles(dir);
      const vocabPath = join(dir, "vocab.json");
      const mergesPath = join(dir, "merges.txt");

      await Deno.writeTextFile(vocabPath, "{ not json");
      await assertTokenizerError(
        loadTokenizer(dir),
        /^Malformed tokenizer vocabulary: not valid JSON: .*vocab\.json$/,
      );
      await Deno.writeTextFile(vocabPath, "[1, 2]");
      await assertTokenizerError(loadTokenizer(dir), /expected a JSON object of token ids/);
      await Deno.writeTextFile(vocabPath, JSON.stringify({ ...vocab, "a</w>": "320" }));
      await assertTokenizerError(loadTokenizer(dir), /id of "a<\/w>" is not a non-negative integer/);

      const withoutEnd = { ...vocab };
      delete withoutEnd["<|endoftext|>"];
      await Deno.writeTextFile(vocabPath, JSON.stringify(withoutEnd));
      await assertTokenizerError(loadTokenizer(dir), /<\|endoftext\|> has no id/);

      const withoutMerge = { ...vocab };
      delete withoutMerge["photo</w>"];
      await Deno.writeTextFile(vocabPath, JSON.stringify(withoutMerge));
      await assertTokenizerError(
        loadTokenizer(dir),
        /merge result "photo<\/w>" has no id: .*vocab\.json with .*merges\.txt$/,
      );

      await Deno.writeTextFile(vocabPath, JSON.stringify(vocab));
      await Deno.writeTextFile(mergesPath, `#version: 0.2\n${merges.slice(0, 10).join("\n")}\nabc\n`);
      await assertTokenizerError(
        loadTokenizer(dir),
        /merge 11 is not two symbols separated by one space \("abc"\)/,
      );
    });
  },
);
