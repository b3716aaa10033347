import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import {
  formatUuid,
  isUuidv7,
  parseUuid,
  parseUuidv7,
  uuidv7,
  uuidv7Bound,
  uuidv7Bytes,
  uuidv7Generator,
  uuidv7Timestamp,
} from "../../uid/mod.ts";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("a million UUID v7 in a tight loop are strictly increasing and well-formed", () => {
  const ids = new Array<string>(1_000_000);
  for (let i = 0; i < ids.length; i++) ids[i] = uuidv7();
  let increasing = true;
  let wellFormed = true;
  for (let i = 0; i < ids.length; i++) {
    if (i > 0 && ids[i] <= ids[i - 1]) increasing = false;
    if (!V7.test(ids[i])) wellFormed = false;
  }
  assert.equal(increasing, true);
  assert.equal(wellFormed, true);
  assert.equal(new Set(ids).size, ids.length);
});

test("UUID v7 bytes carry version 7 and the RFC variant and sort like the strings", () => {
  let previous = uuidv7Bytes();
  for (let i = 0; i < 10_000; i++) {
    const bytes = uuidv7Bytes();
    assert.equal(bytes.length, 16);
    assert.equal(bytes[6] >>> 4, 7);
    assert.equal(bytes[8] >>> 6, 0b10);
    assert.ok(formatUuid(bytes) > formatUuid(previous));
    previous = bytes;
  }
});

test("the timestamp of a UUID v7 is the clock's time", () => {
  const time = Date.UTC(2026, 10, 23, 12, 0, 0, 123);
  const ids = uuidv7Generator({ clock: { now: () => time } });
  const id = ids.next();
  assert.equal(uuidv7Timestamp(id), time);
  assert.equal(uuidv7Timestamp(ids.nextBytes()), time);
  assert.equal(parseUuidv7(id).timestampMs, time);
  assert.equal(parseUuidv7(id.toUpperCase()).timestampMs, time, "input is case-insensitive");
  assert.ok(Math.abs(uuidv7Timestamp(uuidv7()) - Date.now()) < 1_000);
});

test("ids stay increasing within one millisecond and when the clock moves back", () => {
  let time = 1_700_000_000_000;
  const ids = uuidv7Generator({ clock: { now: () => time } });
  const issued = [ids.next(), ids.next()];
  time -= 60_000;
  issued.push(ids.next(), ids.next());
  time += 120_000;
  issued.push(ids.next());
  for (let i = 1; i < issued.length; i++) assert.ok(issued[i] > issued[i - 1], `${i}`);
  assert.equal(
    uuidv7Timestamp(issued[2]),
    1_700_000_000_000,
    "a step back keeps the last timestamp",
  );
});

test("the 42-bit counter carries from its low 30 bits into rand_a", () => {
  const time = 1_700_000_000_000;
  // A random source of all ones seeds the counter at its largest start value (high 12
  // bits 0x7ff, low 30 bits all ones), so the very next id must carry into the high bits.
  const ones = (buffer: Uint32Array) => buffer.fill(0xffffffff);
  const ids = uuidv7Generator({ clock: { now: () => time }, random: ones });
  const first = ids.nextBytes();
  assert.equal(((first[6] & 0x0f) << 8) | first[7], 0x7ff);
  const second = ids.nextBytes();
  assert.equal(((second[6] & 0x0f) << 8) | second[7], 0x800);
  assert.equal(second[8] & 0x3f, 0);
  assert.ok(formatUuid(second) > formatUuid(first));
  assert.equal(uuidv7Timestamp(second), time);
});

test("a clock reading that is not a non-negative integer is InvalidArgument, never a malformed id", () => {
  for (const reading of [1_700_000_000_000.5, NaN, -5, Infinity, -Infinity]) {
    const ids = uuidv7Generator({ clock: { now: () => reading } });
    assert.throws(() => ids.next(), (e) => {
      assert.ok(InfraError.is(e, "InvalidArgument"), String(e));
      assert.equal(e.details.now, reading);
      return true;
    }, String(reading));
    assert.throws(() => ids.nextBytes(), (e) => InfraError.is(e, "InvalidArgument"));
  }
});

test("a bad clock reading between good ones costs no id and keeps the order", () => {
  let time: number = 1_700_000_000_000;
  const ids = uuidv7Generator({ clock: { now: () => time } });
  const before = ids.next();
  for (const reading of [NaN, time + 0.5]) {
    time = reading;
    assert.throws(() => ids.next(), (e) => InfraError.is(e, "InvalidArgument"), String(reading));
  }
  time = 1_700_000_000_000;
  const after = ids.next();
  assert.ok(after > before);
  assert.equal(uuidv7Timestamp(after), time);
});

test("a clock past UUID v7's 48-bit timestamp is ResourceExhausted", () => {
  let time = 2 ** 48 - 1;
  const ids = uuidv7Generator({ clock: { now: () => time } });
  assert.equal(uuidv7Timestamp(ids.next()), 2 ** 48 - 1);
  time = 2 ** 48;
  assert.throws(() => ids.next(), (e) => InfraError.is(e, "ResourceExhausted"));
});

test("parseUuid and formatUuid round-trip any version", () => {
  const v4 = crypto.randomUUID();
  assert.equal(formatUuid(parseUuid(v4)), v4);
  assert.equal(formatUuid(parseUuid(v4.toUpperCase())), v4);
  const id = uuidv7();
  assert.deepEqual(parseUuidv7(id).bytes, parseUuid(id));
});

test("isUuidv7 accepts only canonical version-7 RFC UUIDs", () => {
  assert.equal(isUuidv7(uuidv7()), true);
  assert.equal(isUuidv7(uuidv7().toUpperCase()), true);
  assert.equal(isUuidv7(crypto.randomUUID()), false);
  assert.equal(isUuidv7("018f3c1a-7b2e-7c00-0a4b-1234567890ab"), false, "NCS variant");
  assert.equal(isUuidv7("018f3c1a7b2e7c008a4b1234567890ab"), false, "no dashes");
  assert.equal(isUuidv7(42), false);
  assert.equal(isUuidv7(undefined), false);
});

test("malformed UUIDs are InvalidArgument saying what is wrong", () => {
  const cases: [unknown, RegExp][] = [
    ["", /not a UUID/],
    ["not-a-uuid", /not a UUID/],
    ["018f3c1a-7b2e-7c00-8a4b-1234567890a", /not a UUID/],
    ["018f3c1a-7b2e-7c00-8a4b-1234567890abc", /not a UUID/],
    ["018f3c1g-7b2e-7c00-8a4b-1234567890ab", /not a UUID/],
    [crypto.randomUUID(), /version is 4/],
    ["018f3c1a-7b2e-7c00-ca4b-1234567890ab", /variant bits are 11/],
    ["{018f3c1a-7b2e-7c00-8a4b-1234567890ab}", /not a UUID/],
    ["urn:uuid:018f3c1a-7b2e-7c00-8a4b-1234567890ab", /not a UUID/],
    [" 018f3c1a-7b2e-7c00-8a4b-1234567890ab", /not a UUID/],
    [null, /not a UUID/],
    [new Uint8Array(15), /16 bytes, got 15/],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => parseUuidv7(value as string),
      (e) => InfraError.is(e, "InvalidArgument") && message.test(e.message),
      String(value),
    );
    assert.throws(
      () => uuidv7Timestamp(value as string),
      (e) => InfraError.is(e, "InvalidArgument"),
    );
  }
  assert.throws(() => formatUuid(new Uint8Array(17)), (e) => InfraError.is(e, "InvalidArgument"));
});

test("uuidv7Bound brackets every UUID v7 of a millisecond, as strings and as bytes", () => {
  let time = Date.UTC(2026, 11, 2, 12);
  const ones = (buffer: Uint32Array) => buffer.fill(0xffffffff);
  const zeros = (buffer: Uint32Array) => buffer.fill(0);
  const compareBytes = (a: Uint8Array, b: Uint8Array) => {
    for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  };
  const min = uuidv7Bound(time, "min");
  const max = uuidv7Bound(time, "max");
  assert.ok(isUuidv7(min) && isUuidv7(max));
  assert.equal(uuidv7Timestamp(min), time);
  assert.equal(uuidv7Timestamp(max), time);
  for (const random of [ones, zeros, undefined]) {
    const ids = uuidv7Generator({ clock: { now: () => time }, random });
    for (let i = 0; i < 1_000; i++) {
      const id = ids.next();
      assert.ok(min <= id && id <= max, `${id} outside [${min}, ${max}]`);
      assert.ok(compareBytes(parseUuid(min), parseUuid(id)) <= 0);
      assert.ok(compareBytes(parseUuid(id), parseUuid(max)) <= 0);
    }
  }
  assert.ok(uuidv7Bound(time - 1, "max") < min);
  time += 1;
  assert.ok(uuidv7Generator({ clock: { now: () => time } }).next() > max);
  assert.equal(uuidv7Bound(0, "min"), "00000000-0000-7000-8000-000000000000");
  assert.equal(uuidv7Bound(2 ** 48 - 1, "max"), "ffffffff-ffff-7fff-bfff-ffffffffffff");
});

test("uuidv7Bound refuses a bad timestamp or edge with InvalidArgument", () => {
  for (const [timestamp, edge] of [[-1, "min"], [2 ** 48, "max"], [1.5, "min"], [0, "mid"]]) {
    assert.throws(
      () => uuidv7Bound(timestamp as number, edge as "min"),
      (error: unknown) => error instanceof InfraError && error.code === "InvalidArgument",
    );
  }
});

test("uuidv7Generator's deps that are not an object, or a clock without now(), fail at creation", () => {
  const cases: [unknown, string, RegExp][] = [
    [null, "", /^uid: uuidv7Generator deps must be an object, got null$/],
    [{ clock: {} }, "clock", /^uid: uuidv7Generator deps\.clock must be an object with a now\(\)/],
    [{ clock: { now: 5 } }, "clock", /deps\.clock must be an object with a now\(\)/],
    [{ random: 5 }, "random", /^uid: uuidv7Generator deps\.random must be a function/],
  ];
  for (const [deps, field, message] of cases) {
    // No next(): the generator must not be created at all.
    assert.throws(() => uuidv7Generator(deps as never), (e) => {
      assert.ok(InfraError.is(e, "InvalidArgument"), String(e));
      assert.equal(e.details.field, field);
      assert.match(e.message, message);
      return true;
    });
  }
});
