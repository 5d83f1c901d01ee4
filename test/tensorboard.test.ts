// TensorBoard event files (packages/cli/src/tracking): read back by an independent reader written here, not with the
// writer's own libraries: TFRecord framing parsed by hand, CRC-32C computed bitwise (not with the crc-32 package),
// and the Event / Summary protobuf decoded from the wire format (not with protobufjs). Field numbers from
// tensorboard/compat/proto/event.proto and summary.proto; framing from tensorflow/core/lib/io/record_writer.cc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { MetricsRow } from '@mmrl/core';
import { crc32c, encodeRecord, maskedCrc32c } from '../packages/cli/src/tracking/tfrecord.js';
import { FILE_VERSION, TENSORBOARD_DIR, TensorBoardWriter } from '../packages/cli/src/tracking/tensorboard.js';
import { mmrl, ROOT } from './helpers.js';

// ---- CRC-32C, bit by bit (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78) ----

function crc32cReference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** TFRecord's mask: rotate right by 15 bits, add 0xa282ead8 (tensorflow/core/lib/hash/crc32c.h). */
const mask = (crc: number): number => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;

// ---- TFRecord framing ----

/**
 * The records of a TFRecord file: `uint64 length` (LE), `uint32 masked_crc32c(length bytes)`, data,
 * `uint32 masked_crc32c(data)`. Fails on a bad checksum or a truncated record.
 */
function readRecords(file: Buffer): Buffer[] {
  const records: Buffer[] = [];
  let at = 0;
  while (at < file.length) {
    assert.ok(at + 12 <= file.length, `truncated record header at byte ${at}`);
    const length = Number(file.readBigUInt64LE(at));
    assert.equal(file.readUInt32LE(at + 8), mask(crc32cReference(file.subarray(at, at + 8))), `length checksum at byte ${at}`);
    const start = at + 12;
    assert.ok(start + length + 4 <= file.length, `truncated record data at byte ${at}`);
    const data = file.subarray(start, start + length);
    assert.equal(file.readUInt32LE(start + length), mask(crc32cReference(data)), `data checksum at byte ${start + length}`);
    records.push(data);
    at = start + length + 4;
  }
  return records;
}

// ---- protobuf wire format ----

interface Field {
  number: number;
  wireType: number;
  /** varint (wire type 0) as a bigint; the 8 or 4 bytes (1, 5) or the payload (2) as a Buffer. */
  value: bigint | Buffer;
}

/** The fields of a protobuf message, in order. Fails on a wire type other than 0, 1, 2, 5 or a truncated field. */
function fields(message: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      assert.ok(at < message.length, 'truncated varint');
      const byte = message[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      assert.ok(shift < 63n, 'varint longer than 10 bytes');
    }
  };
  const take = (n: number): Buffer => {
    assert.ok(at + n <= message.length, 'truncated field');
    const bytes = message.subarray(at, at + n);
    at += n;
    return bytes;
  };
  while (at < message.length) {
    const key = varint();
    const number = Number(key >> 3n);
    const wireType = Number(key & 7n);
    if (wireType === 0) out.push({ number, wireType, value: varint() });
    else if (wireType === 1) out.push({ number, wireType, value: take(8) });
    else if (wireType === 2) out.push({ number, wireType, value: take(Number(varint())) });
    else if (wireType === 5) out.push({ number, wireType, value: take(4) });
    else assert.fail(`unsupported wire type ${wireType} (field ${number})`);
  }
  return out;
}

interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  /** Summary values: tag and float32 simple_value. */
  scalars?: { tag: string; value: number }[];
}

const bytes = (f: Field): Buffer => f.value as Buffer;

/** An `Event`: 1 wall_time double, 2 step int64, 3 file_version string, 5 summary; fails on any other field. */
function decodeEvent(record: Buffer): DecodedEvent {
  const event: DecodedEvent = { wallTime: 0, step: 0 }; // proto3: zero values are not written
  for (const f of fields(record)) {
    if (f.number === 1 && f.wireType === 1) event.wallTime = bytes(f).readDoubleLE(0);
    else if (f.number === 2 && f.wireType === 0) event.step = Number(BigInt.asIntN(64, f.value as bigint));
    else if (f.number === 3 && f.wireType === 2) event.fileVersion = bytes(f).toString('utf8');
    else if (f.number === 5 && f.wireType === 2) event.scalars = decodeSummary(bytes(f));
    else assert.fail(`unexpected Event field ${f.number} (wire type ${f.wireType})`);
  }
  return event;
}

/** A `Summary`: repeated field 1 `Value` { 1 tag string, 2 simple_value float }. */
function decodeSummary(message: Buffer): { tag: string; value: number }[] {
  return fields(message).map((f) => {
    assert.ok(f.number === 1 && f.wireType === 2, `unexpected Summary field ${f.number} (wire type ${f.wireType})`);
    let tag: string | undefined;
    let value = 0;
    for (const v of fields(bytes(f))) {
      if (v.number === 1 && v.wireType === 2) tag = bytes(v).toString('utf8');
      else if (v.number === 2 && v.wireType === 5) value = bytes(v).readFloatLE(0);
      else assert.fail(`unexpected Summary.Value field ${v.number} (wire type ${v.wireType})`);
    }
    assert.ok(tag !== undefined, 'Summary.Value without a tag');
    return { tag, value };
  });
}

const eventFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.includes('tfevents')).sort();

function readEvents(file: string): DecodedEvent[] {
  return readRecords(readFileSync(file)).map(decodeEvent);
}

/** Every scalar point of the events as `tag@step=value`, in file order. */
const points = (events: readonly DecodedEvent[]): string[] =>
  events.flatMap((e) => (e.scalars ?? []).map((s) => `${s.tag}@${e.step}=${s.value}`));

// ---- tests ----

test('CRC-32C: the bitwise reference passes the known vectors and agrees with tfrecord.ts', () => {
  assert.equal(crc32cReference(Buffer.from('123456789')), 0xe3069283);
  // RFC 3720 (iSCSI), appendix B.4: 32 zero bytes, 32 0xff bytes, 0x00..0x1f, 0x1f..0x00.
  assert.equal(crc32cReference(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32cReference(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32cReference(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32cReference(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  // The writer's (crc-32 package) values, on lengths 0..300 of pseudo-random bytes.
  let seed = 12345;
  const data = Uint8Array.from({ length: 300 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
  for (let n = 0; n <= data.length; n += 7) {
    const chunk = data.subarray(0, n);
    assert.equal(crc32c(chunk), crc32cReference(chunk), `crc32c of ${n} bytes`);
    assert.equal(maskedCrc32c(chunk), mask(crc32cReference(chunk)), `masked crc32c of ${n} bytes`);
  }
});

test('TFRecord framing: length, masked CRCs and data of encodeRecord, read back by hand', () => {
  const payloads = [new Uint8Array(0), Buffer.from('x'), Buffer.alloc(1000, 7)];
  const file = Buffer.concat(payloads.map((p) => encodeRecord(p)));
  assert.equal(file.length, payloads.reduce((n, p) => n + 16 + p.length, 0));
  const records = readRecords(file);
  assert.equal(records.length, 3);
  records.forEach((r, i) => assert.ok(r.equals(payloads[i]!), `record ${i}`));
  // A flipped data byte is caught by the data checksum.
  const bad = Buffer.from(file);
  const x = 16 + 12; // the "x" of the second record (the first is 16 bytes: header, no data, checksum)
  bad[x] = bad[x]! ^ 1;
  assert.throws(() => readRecords(bad), /data checksum/);
});

/** A writer clock: 1000.25 s, then +0.5 s per call. */
function clock(start = 1000.25): () => number {
  let t = start - 0.5;
  return () => (t += 0.5);
}

test('TensorBoardWriter: file-version record, then the rows as scalars with the tags and steps of ScalarMapper', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'mmrl-tb-')), TENSORBOARD_DIR);
  const writer = new TensorBoardWriter(dir, { now: clock() });
  assert.equal(writer.file, join(dir, `events.out.tfevents.1000.${hostname()}.${process.pid}`));
  const rows: MetricsRow[] = [
    { phase: 'eval', label: 'initial', prompts: 4, accuracy: 0.25, blindBaseline: 1 / 3 },
    { phase: 'sft', step: 0, loss: 3.7683172, grad_norm: 0.99, skipped: false },
    { phase: 'sft', step: 1, loss: 3.5, grad_norm: 1.25, skipped: true },
    { phase: 'eval', label: 'after SFT', prompts: 4, accuracy: 0.5 },
    { phase: 'eval', label: 'before RL', prompts: 4, accuracy: 0.5 },
    { phase: 'eval', label: 'step 1', prompts: 4, accuracy: 0.75 },
    // RL rows: `step` and the eval_* copies of the periodic evaluation are not scalars; nulls (NaN) and strings neither.
    { phase: 'rl', step: 0, reward_mean: 0.1, kl: null, note: 'x', eval_accuracy: 0.75, trajectories: 8 },
    { phase: 'rl', step: 1, reward_mean: -2.5e-8, kl: 0.001, trajectories: 8 },
    { phase: 'eval', label: 'after RL', prompts: 4, accuracy: 1 },
    { phase: 'eval', label: 'no numbers' }, // writes nothing
    { phase: 'custom', step: 5, value: 123456.789 },
  ];
  for (const row of rows) writer.write(row);

  const files = eventFiles(dir);
  assert.deepEqual(files, [`events.out.tfevents.1000.${hostname()}.${process.pid}`]);
  const events = readEvents(join(dir, files[0]!));
  assert.deepEqual(events[0], { wallTime: 1000.25, step: 0, fileVersion: FILE_VERSION });
  assert.equal(FILE_VERSION, 'brain.Event:2');
  // One event per row with numbers, wall times from the clock (doubles, exact), no file_version after the first.
  assert.equal(events.length, 1 + rows.length - 1);
  events.forEach((e, i) => assert.equal(e.wallTime, 1000.25 + 0.5 * i));
  assert.ok(events.slice(1).every((e) => e.fileVersion === undefined && e.scalars !== undefined));
  const f = Math.fround;
  assert.deepEqual(points(events), [
    `sft_eval/prompts@0=4`,
    `sft_eval/accuracy@0=0.25`,
    `sft_eval/blindBaseline@0=${f(1 / 3)}`,
    `sft/loss@1=${f(3.7683172)}`,
    `sft/grad_norm@1=${f(0.99)}`,
    `sft/loss@2=3.5`,
    `sft/grad_norm@2=1.25`,
    `sft_eval/prompts@2=4`, // "after SFT": the last SFT step
    `sft_eval/accuracy@2=0.5`,
    `eval/prompts@0=4`, // "before RL"
    `eval/accuracy@0=0.5`,
    `eval/prompts@1=4`, // "step 1"
    `eval/accuracy@1=0.75`,
    `rl/reward_mean@1=${f(0.1)}`, // rl rows at step + 1
    `rl/trajectories@1=8`,
    `rl/reward_mean@2=${f(-2.5e-8)}`,
    `rl/kl@2=${f(0.001)}`,
    `rl/trajectories@2=8`,
    `eval/prompts@2=4`, // "after RL": the last RL step
    `eval/accuracy@2=1`,
    `custom/value@5=${f(123456.789)}`,
  ]);
  // The values are float32: 0.1 arrives as the nearest float, not the double.
  assert.notEqual(f(0.1), 0.1);
});

test('TensorBoardWriter replace: a resumed writer removes the older event files of its directory, and only those', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-tb-replace-'));
  const first = new TensorBoardWriter(dir, { now: clock(2000) });
  first.write({ phase: 'rl', step: 0, reward_mean: 1 });
  first.write({ phase: 'rl', step: 1, reward_mean: 2 });
  writeFileSync(join(dir, 'notes.txt'), 'kept');
  const second = new TensorBoardWriter(dir, { now: clock(3000) }); // no replace: both files stay
  assert.deepEqual(eventFiles(dir), [first.file, second.file].map((p) => p.slice(dir.length + 1)).sort());

  const resumed = new TensorBoardWriter(dir, { now: clock(4000), replace: true });
  resumed.write({ phase: 'rl', step: 0, reward_mean: 1 });
  assert.deepEqual(eventFiles(dir), [resumed.file.slice(dir.length + 1)]);
  assert.ok(readdirSync(dir).includes('notes.txt'));
  const events = readEvents(resumed.file);
  assert.equal(events[0]!.fileVersion, FILE_VERSION);
  assert.deepEqual(points(events), ['rl/reward_mean@1=1']);
});

test('mmrl demo --tensorboard: one rl/ point per rl row of metrics.jsonl, with its value; eval and sft curves', () => {
  const out = mkdtempSync(join(tmpdir(), 'mmrl-tb-e2e-'));
  const config = parseYaml(readFileSync(join(ROOT, 'test/fixtures/tiny.yaml'), 'utf8'));
  config.trainer.steps = 2;
  config.trainer.maxResponseTokens = 8; // short rollouts keep the test fast
  config.eval.prompts = 4;
  const file = join(out, 'tiny.json');
  writeFileSync(file, JSON.stringify(config));
  const r = mmrl(['demo', file, '--out', out, '--name', 'run', '--tensorboard', '--quiet']);
  assert.equal(r.status, 0, r.stderr + r.stdout);

  const runDir = join(out, 'run');
  const rows = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MetricsRow);
  const rl = rows.filter((row) => row['phase'] === 'rl');
  assert.equal(rl.length, 2);
  const files = eventFiles(join(runDir, TENSORBOARD_DIR));
  assert.equal(files.length, 1);
  const events = readEvents(join(runDir, TENSORBOARD_DIR, files[0]!));
  assert.equal(events[0]!.fileVersion, FILE_VERSION);

  const rlEvents = events.filter((e) => e.scalars?.some((s) => s.tag.startsWith('rl/')));
  assert.equal(rlEvents.length, rl.length);
  rlEvents.forEach((e, i) => {
    const row = rl[i]!;
    assert.equal(e.step, (row['step'] as number) + 1);
    const expected = Object.entries(row)
      .filter(([k, v]) => typeof v === 'number' && k !== 'step' && !k.startsWith('eval_'))
      .map(([k, v]) => `rl/${k}=${Math.fround(v as number)}`);
    assert.deepEqual(e.scalars!.map((s) => `${s.tag}=${s.value}`), expected);
  });
  assert.equal(events.filter((e) => e.scalars?.some((s) => s.tag.startsWith('sft/'))).length, rows.filter((row) => row['phase'] === 'sft').length);
  const accuracy = events.flatMap((e) => (e.scalars ?? []).filter((s) => s.tag === 'eval/accuracy').map(() => e.step));
  assert.deepEqual(accuracy, [0, 2]); // before RL, after RL
});
