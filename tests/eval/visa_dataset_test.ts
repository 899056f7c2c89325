/**
 * The VisA reader and the layout-detecting reader on temporary trees: a valid category, and a clear
 * error naming the file, line or path for each malformation.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readDataset, readVisaDataset, VISA_SPLIT_CSV } from "../../src/eval/datasets.ts";
import { ConfigError } from "../../src/errors.ts";

const HEADER = "object,split,label,image,mask";
const ROWS = [
  "candle,train,normal,candle/Data/Images/Normal/0001.JPG,",
  "candle,train,normal,candle/Data/Images/Normal/0000.JPG,",
  "candle,test,normal,candle/Data/Images/Normal/0002.JPG,",
  "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png",
  "fryum,train,normal,fryum/Data/Images/Normal/0000.JPG,",
];

/** A VisA root with candle (2 train, 1 good test, 1 anomaly) and a CSV of `rows`. */
async function makeVisa(rows: string[] = ROWS): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "adp-visa-" });
  const files = [
    "candle/Data/Images/Normal/0000.JPG",
    "candle/Data/Images/Normal/0001.JPG",
    "candle/Data/Images/Normal/0002.JPG",
    "candle/Data/Images/Anomaly/000.JPG",
    "candle/Data/Masks/Anomaly/000.png",
  ];
  for (const file of files) {
    await Deno.mkdir(join(root, file, ".."), { recursive: true });
    await Deno.writeFile(join(root, file), new Uint8Array(1));
  }
  await writeCsv(root, [HEADER, ...rows]);
  return root;
}

async function writeCsv(root: string, lines: string[]): Promise<void> {
  await Deno.mkdir(join(root, "split_csv"), { recursive: true });
  await Deno.writeTextFile(join(root, VISA_SPLIT_CSV), lines.join("\r\n") + "\r\n");
}

async function rejects(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (e) => e instanceof ConfigError && pattern.test(e.message));
}

Deno.test("readVisaDataset() reads one category's split: sorted normals, good tests first, masks", async () => {
  const root = await makeVisa();
  try {
    const d = await readVisaDataset(root, "candle");
    assert.equal(d.category, "candle");
    assert.deepEqual(d.train.map((p) => p.slice(root.length)), [
      "/candle/Data/Images/Normal/0000.JPG",
      "/candle/Data/Images/Normal/0001.JPG",
    ]);
    assert.deepEqual(d.test.map((s) => [s.defect, s.label]), [["good", 0], ["anomaly", 1]]);
    assert.ok(d.test[1].maskPath!.endsWith("candle/Data/Masks/Anomaly/000.png"));
    assert.deepEqual(d.defects, ["anomaly"]);
    const detected = await readDataset(root, "candle");
    assert.deepEqual(detected.test, d.test);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readVisaDataset() names the file, line or path of each malformation", async () => {
  const root = await makeVisa();
  try {
    await rejects(() => readVisaDataset(root, "pcb9"), /no object "pcb9": .*1cls\.csv lists candle, fryum/);
    await writeCsv(root, ["object,split,image,mask", ...ROWS]);
    await rejects(() => readVisaDataset(root, "candle"), /lacks column label/);
    await writeCsv(root, [HEADER, ...ROWS, "candle,val,normal,candle/Data/Images/Normal/0000.JPG,"]);
    await rejects(
      () => readVisaDataset(root, "candle"),
      /split must be train or test: got "val" at .*line 7/,
    );
    await writeCsv(root, [HEADER, ...ROWS, "candle,test,bad,candle/Data/Images/Normal/0000.JPG,"]);
    await rejects(() => readVisaDataset(root, "candle"), /label must be normal or anomaly: got "bad"/);
    await writeCsv(root, [HEADER, ...ROWS, "candle,test,normal,candle/Data/Images/Normal/9999.JPG,"]);
    await rejects(
      () => readVisaDataset(root, "candle"),
      /image is missing: .*9999\.JPG \(listed at .*line 7\)/,
    );
    await writeCsv(root, [HEADER, ...ROWS, "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,"]);
    await rejects(
      () => readVisaDataset(root, "candle"),
      /Anomalous image has no mask: .*000\.JPG at .*line 7/,
    );
    await writeCsv(root, [HEADER, ...ROWS, "candle,train,anomaly,candle/Data/Images/Anomaly/000.JPG,x"]);
    await rejects(() => readVisaDataset(root, "candle"), /training images must be normal/);
    await writeCsv(root, [HEADER, ...ROWS, "candle,test,normal"]);
    await rejects(() => readVisaDataset(root, "candle"), /row has 3 fields, the header 5: .*line 7/);
    await writeCsv(root, [HEADER, ...ROWS.filter((r) => !r.includes("anomaly"))]);
    await rejects(() => readVisaDataset(root, "candle"), /no anomalous test images: candle/);
    await writeCsv(root, [HEADER, ...ROWS]);
    await Deno.remove(join(root, "candle/Data/Masks"), { recursive: true });
    await rejects(
      () => readVisaDataset(root, "candle"),
      /missing: .*candle\/Data\/Masks\/Anomaly should hold/,
    );
    await Deno.remove(join(root, VISA_SPLIT_CSV));
    await rejects(
      () => readVisaDataset(root, "candle"),
      /VisA split file is missing: .*split_csv\/1cls\.csv/,
    );
    await rejects(
      () => readDataset(root, "candle"),
      /in no known layout: expected .*candle\/train\/good .*1cls\.csv/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
