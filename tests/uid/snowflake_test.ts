import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { InfraError } from "../../base/mod.ts";
import {
  type Clock,
  compose,
  decompose,
  defaultConfig,
  type InstanceIdLease,
  type InstanceIdLeaseState,
  MAX_INSTANCE_ID,
  MAX_SEQUENCE,
  snowflake,
} from "../../uid/mod.ts";

const EPOCH = Date.UTC(2024, 0, 1);

/** A clock that stands still until the test moves it; `onRead` may move it on each read. */
interface ManualClock extends Clock {
  time: number;
  reads: number;
  onRead?: (reads: number) => void;
}
function manualClock(start: number): ManualClock {
  const clock: ManualClock = {
    time: start,
    reads: 0,
    now() {
      clock.reads++;
      clock.onRead?.(clock.reads);
      return clock.time;
    },
  };
  return clock;
}

test("ten million Snowflake ids are unique and strictly increasing", () => {
  const ids = snowflake({ instanceId: 1 });
  let previous = ids.next();
  let increasing = true;
  for (let i = 1; i < 10_000_000; i++) {
    const id = ids.next();
    if (id <= previous) {
      increasing = false;
      break;
    }
    previous = id;
  }
  assert.equal(increasing, true);
});

test("generators with different instance ids never collide", () => {
  const clock: Clock = { now: Date.now };
  const generators = [0, 1, 513, 1023].map((instanceId) => snowflake({ instanceId }, { clock }));
  const seen = new Set<bigint>();
  for (let i = 0; i < 100_000; i++) {
    for (const generator of generators) seen.add(generator.next());
  }
  assert.equal(seen.size, 400_000);
  for (const generator of generators) {
    assert.equal(decompose(generator.next()).instanceId, generator.instanceId);
  }
});

test("an id decomposes into its timestamp, instance id and sequence", () => {
  const clock = manualClock(EPOCH + 123_456);
  const ids = snowflake({ instanceId: 999 }, { clock });
  const first = ids.next();
  const second = ids.nextString();
  assert.deepEqual(ids.decompose(first), {
    timestampMs: EPOCH + 123_456,
    instanceId: 999,
    sequence: 0,
  });
  assert.deepEqual(decompose(second), {
    timestampMs: EPOCH + 123_456,
    instanceId: 999,
    sequence: 1,
  });
  assert.equal(first, (123_456n << 22n) | (999n << 12n));
});

test("a custom epoch shifts the timestamp bits, and decompose needs the same epoch", () => {
  const epochMs = Date.UTC(2020, 0, 1);
  const clock = manualClock(epochMs + 5);
  const id = snowflake({ instanceId: 2, epochMs }, { clock }).next();
  assert.equal(id >> 22n, 5n);
  assert.equal(decompose(id, { epochMs }).timestampMs, epochMs + 5);
});

test("sequence overflow within one millisecond waits for the next millisecond", () => {
  const start = EPOCH + 1_000;
  const clock = manualClock(start);
  // The clock stands still for the first 4,096 ids and 50 more reads, then moves on.
  clock.onRead = (reads) => {
    if (reads === MAX_SEQUENCE + 1 + 50) clock.time = start + 1;
  };
  const ids = snowflake({ instanceId: 5 }, { clock });
  const issued = Array.from({ length: MAX_SEQUENCE + 2 }, () => ids.next());
  assert.deepEqual(ids.decompose(issued[MAX_SEQUENCE]), {
    timestampMs: start,
    instanceId: 5,
    sequence: MAX_SEQUENCE,
  });
  assert.deepEqual(ids.decompose(issued[MAX_SEQUENCE + 1]), {
    timestampMs: start + 1,
    instanceId: 5,
    sequence: 0,
  });
  assert.ok(
    clock.reads >= MAX_SEQUENCE + 1 + 50,
    "the generator kept reading the clock while it waited",
  );
  assert.equal(new Set(issued).size, issued.length);
});

test("a small clock step back is waited out and never yields a smaller id", () => {
  const start = EPOCH + 50_000;
  const clock = manualClock(start);
  const ids = snowflake({ instanceId: 9, maxClockBackwardsMs: 10 }, { clock });
  const first = ids.next();
  // The clock jumps 3 ms back and recovers 20 reads later, 2 ms ahead.
  clock.time = start - 3;
  const jumpedAt = clock.reads;
  clock.onRead = (reads) => {
    if (reads === jumpedAt + 20) clock.time = start + 2;
  };
  const second = ids.next();
  assert.ok(second > first);
  assert.equal(ids.decompose(second).timestampMs, start + 2);
  assert.ok(clock.reads >= jumpedAt + 20, "the generator waited for the clock");
});

test("a small step back to the same millisecond continues its sequence", () => {
  const start = EPOCH + 70_000;
  const clock = manualClock(start);
  const ids = snowflake({ instanceId: 1, maxClockBackwardsMs: 10 }, { clock });
  ids.next();
  clock.time = start + 1;
  const a = ids.next();
  // The next read sees the clock 2 ms back; the one after sees it back at start + 1.
  clock.time = start - 1;
  const steppedBackAt = clock.reads + 1;
  clock.onRead = (reads) => {
    if (reads === steppedBackAt + 1) clock.time = start + 1;
  };
  const b = ids.next();
  assert.ok(clock.reads > steppedBackAt, "the generator read the stepped-back clock and waited");
  assert.equal(b, a + 1n);
});

test("a large clock step back fails with ClockBackwards and recovers without duplicates", () => {
  const start = EPOCH + 90_000;
  const clock = manualClock(start);
  const ids = snowflake({ instanceId: 4, maxClockBackwardsMs: 10 }, { clock });
  const before = [ids.next(), ids.next()];
  clock.time = start - 5_000;
  assert.throws(() => ids.next(), (e) => {
    assert.ok(InfraError.is(e, "ClockBackwards"));
    assert.equal(e.details.stepMs, 5_000);
    assert.equal(e.component, "uid");
    return true;
  });
  assert.throws(() => ids.next(), (e) => InfraError.is(e, "ClockBackwards"));
  clock.time = start;
  const after = ids.next();
  assert.ok(after > before[1]);
  assert.equal(ids.decompose(after).sequence, 2);
});

test("a clock that moves back too far while waiting out an overflow fails too", () => {
  const start = EPOCH + 95_000;
  const clock = manualClock(start);
  const ids = snowflake({ instanceId: 4, maxClockBackwardsMs: 10 }, { clock });
  for (let i = 0; i <= MAX_SEQUENCE; i++) ids.next();
  // The first read still shows the full millisecond (so next() starts waiting it out); then
  // the clock jumps a minute back, and only much later would it pass the millisecond.
  const waitFrom = clock.reads + 1;
  clock.onRead = (reads) => {
    if (reads === waitFrom + 1) clock.time = start - 60_000;
    if (reads === waitFrom + 1_000) clock.time = start + 1;
  };
  assert.throws(() => ids.next(), (e) => {
    assert.ok(InfraError.is(e, "ClockBackwards"));
    assert.equal(e.details.stepMs, 60_000);
    return true;
  });
  assert.ok(clock.reads > waitFrom, "the step back was seen while waiting out the overflow");
});

test("a clock reading that is not an integer is InvalidArgument and costs no id", () => {
  const start = EPOCH + 100_000;
  const clock = manualClock(start);
  const ids = snowflake({ instanceId: 6 }, { clock });
  const before = [ids.next(), ids.next(), ids.next()];
  for (const reading of [NaN, start + 0.5, Infinity]) {
    clock.time = reading;
    assert.throws(() => ids.next(), (e) => {
      assert.ok(InfraError.is(e, "InvalidArgument"), String(e));
      assert.equal(e.component, "uid");
      assert.equal(e.details.now, reading);
      return true;
    });
  }
  clock.time = start;
  const after = ids.next();
  assert.equal(after, before[2] + 1n, "the sequence goes on where it was");
});

test("a first clock reading that is a fraction is InvalidArgument", () => {
  const ids = snowflake({ instanceId: 6 }, { clock: { now: () => EPOCH + 0.5 } });
  assert.throws(() => ids.next(), (e) => InfraError.is(e, "InvalidArgument"));
});

test("a clock past the 41-bit timestamp is ResourceExhausted", () => {
  const clock = manualClock(EPOCH + 2 ** 41 - 1);
  const ids = snowflake({ instanceId: 2 }, { clock });
  assert.equal(ids.decompose(ids.next()).timestampMs, EPOCH + 2 ** 41 - 1);
  clock.time = EPOCH + 2 ** 41;
  assert.throws(() => ids.next(), (e) => InfraError.is(e, "ResourceExhausted"));
});

test("a clock before the epoch is ClockBackwards", () => {
  const ids = snowflake({ instanceId: 2 }, { clock: { now: () => EPOCH - 1 } });
  assert.throws(() => ids.next(), (e) => InfraError.is(e, "ClockBackwards"));
});

/** A clock stuck at `time` that throws after `reads` readings, so a spin fails the test. */
function stuckClock(time: number, reads = 10_000): Clock {
  let left = reads;
  return {
    now() {
      if (--left < 0) throw new Error(`the generator is still reading the clock at ${time}`);
      return time;
    },
  };
}

for (const reading of [-1, -5]) {
  test(`a clock at ${reading} is ClockBackwards on every call, never an id or a spin`, () => {
    for (const epochMs of [EPOCH, 0]) {
      const ids = snowflake({ instanceId: 1, epochMs }, { clock: stuckClock(reading) });
      for (let i = 0; i < MAX_SEQUENCE + 2; i++) {
        assert.throws(() => ids.next(), (e) => {
          assert.ok(InfraError.is(e, "ClockBackwards"), String(e));
          assert.deepEqual(e.details, { now: reading, epochMs });
          return true;
        });
      }
    }
  });
}

test("a clock that steps back to before the epoch fails instead of being waited for", () => {
  // Back from the epoch's own millisecond by less than the tolerance: at the start of a
  // call (after one id), and during the wait for the next millisecond (after 4,096).
  for (const [issued, readsBeforeStep] of [[1, 0], [MAX_SEQUENCE + 1, 1]]) {
    const clock = manualClock(EPOCH);
    const ids = snowflake({ instanceId: 1, maxClockBackwardsMs: 10 }, { clock });
    for (let i = 0; i < issued; i++) ids.next();
    const from = clock.reads + readsBeforeStep;
    clock.onRead = (reads) => {
      if (reads > from) clock.time = EPOCH - 1;
      if (reads > from + 100) throw new Error("the generator is waiting for the clock");
    };
    assert.throws(() => ids.next(), (e) => {
      assert.ok(InfraError.is(e, "ClockBackwards"), String(e));
      assert.equal(e.details.now, EPOCH - 1);
      return true;
    }, `after ${issued} ids`);
  }
});

test("a lease lost while waiting out an overflow issues no id", () => {
  const start = EPOCH + 110_000;
  const clock = manualClock(start);
  const controller = new AbortController();
  const ids = snowflake({}, { lease: { id: 8, signal: controller.signal }, clock });
  for (let i = 0; i <= MAX_SEQUENCE; i++) ids.next();
  // The lease is lost during the wait for the next millisecond, which then comes.
  const waitFrom = clock.reads + 1;
  clock.onRead = (reads) => {
    if (reads === waitFrom + 1) controller.abort(new Error("lease expired"));
    if (reads === waitFrom + 2) clock.time = start + 1;
  };
  assert.throws(() => ids.next(), (e) => InfraError.is(e, "LockLost"));
  assert.ok(clock.reads >= waitFrom + 2, "the generator waited before it refused");
});

test("a lease lost while waiting out a clock step back issues no id", () => {
  const start = EPOCH + 120_000;
  const clock = manualClock(start);
  const controller = new AbortController();
  const ids = snowflake({}, { lease: { id: 8, signal: controller.signal }, clock });
  ids.next();
  clock.time = start - 2;
  const steppedBackAt = clock.reads + 1;
  clock.onRead = (reads) => {
    if (reads === steppedBackAt + 1) controller.abort(new Error("lease expired"));
    if (reads === steppedBackAt + 2) clock.time = start;
  };
  assert.throws(() => ids.next(), (e) => InfraError.is(e, "LockLost"));
});

test("a lost lease stops the generator with LockLost", () => {
  const controller = new AbortController();
  const ids = snowflake({}, { lease: { id: 17, signal: controller.signal } });
  assert.equal(ids.instanceId, 17);
  assert.equal(ids.decompose(ids.next()).instanceId, 17);
  controller.abort(new Error("lease expired"));
  assert.throws(() => ids.next(), (e) => {
    assert.ok(InfraError.is(e, "LockLost"));
    assert.equal((e.cause as Error).message, "lease expired");
    return true;
  });
  assert.throws(() => ids.nextString(), (e) => InfraError.is(e, "LockLost"));
});

test("an already lost lease issues no id at all", () => {
  const ids = snowflake({}, { lease: { id: 3, signal: AbortSignal.abort() } });
  assert.throws(() => ids.next(), (e) => InfraError.is(e, "LockLost"));
});

/**
 * A lease shaped like coord's recovering one, driven by hand: a fresh signal for each period
 * it holds the id, and a `state`; it counts how often either is read.
 */
interface HandLease extends InstanceIdLease {
  readonly state: InstanceIdLeaseState;
  reads: number;
  /** Ends the period: the signal fires and the state becomes `to`. */
  end(to: InstanceIdLeaseState, reason?: unknown): void;
  /** Changes the state without firing the signal (a deadline passed, not noticed yet). */
  mark(to: InstanceIdLeaseState): void;
  /** A new period: a fresh signal and `held`. */
  regain(): void;
}
function handLease(id: number): HandLease {
  let period = new AbortController();
  let state: InstanceIdLeaseState = "held";
  const lease: HandLease = {
    id,
    reads: 0,
    get signal() {
      lease.reads++;
      return period.signal;
    },
    get state() {
      lease.reads++;
      return state;
    },
    end(to, reason = new Error("lease expired")) {
      state = to;
      period.abort(reason);
    },
    mark(to) {
      state = to;
    },
    regain() {
      period = new AbortController();
      state = "held";
    },
  };
  return lease;
}

const lockLost = (state: string) => (e: unknown) =>
  InfraError.is(e, "LockLost") && e.details.state === state;

test("a generator issues no ids while its lease is lost and resumes once it holds the id again", () => {
  const clock = manualClock(EPOCH + 130_000);
  const lease = handLease(9);
  const ids = snowflake({}, { lease, clock });
  const before = ids.next();
  lease.end("lost");
  assert.throws(() => ids.next(), lockLost("lost"));
  clock.time++;
  assert.throws(() => ids.next(), lockLost("lost"));
  lease.regain();
  const after = ids.next();
  assert.ok(after > before);
  assert.equal(decompose(after).instanceId, 9);
});

test("ids after a re-claim in the same millisecond continue its sequence, never repeating one", () => {
  const clock = manualClock(EPOCH + 140_000);
  const lease = handLease(9);
  const ids = snowflake({}, { lease, clock });
  const before = [ids.next(), ids.next()];
  lease.end("lost");
  assert.throws(() => ids.next(), lockLost("lost"));
  lease.regain();
  const after = ids.next();
  assert.equal(decompose(after).timestampMs, decompose(before[1]).timestampMs);
  assert.equal(decompose(after).sequence, 2);
});

test("a lease whose state turns lost before its signal fires stops the generator at the next millisecond", () => {
  const clock = manualClock(EPOCH + 150_000);
  const lease = handLease(9);
  const ids = snowflake({}, { lease, clock });
  ids.next();
  lease.mark("lost");
  clock.time++;
  assert.throws(() => ids.next(), lockLost("lost"));
});

test("a generator reads its lease's signal and state once per millisecond, not for every id", () => {
  const clock = manualClock(EPOCH + 160_000);
  const lease = handLease(9);
  const ids = snowflake({}, { lease, clock });
  const readsAtStart = lease.reads;
  for (let i = 0; i <= MAX_SEQUENCE; i++) ids.next();
  assert.equal(lease.reads - readsAtStart, 2);
  clock.time++;
  ids.next();
  assert.equal(lease.reads - readsAtStart, 4);
});

test("a lease that is taken, expired or closed stops the generator for good, even if it says held later", () => {
  for (const final of ["taken", "expired", "closed"] as const) {
    const clock = manualClock(EPOCH + 170_000);
    const lease = handLease(9);
    const ids = snowflake({}, { lease, clock });
    ids.next();
    lease.end(final);
    assert.throws(() => ids.next(), lockLost(final), final);
    lease.regain();
    clock.time++;
    assert.throws(() => ids.next(), lockLost(final), `${final}, then held`);
  }
});

test("a lease without state stays stopped once its signal fired, even if it hands out a new one", () => {
  let period = new AbortController();
  const lease = {
    id: 5,
    get signal() {
      return period.signal;
    },
  };
  const ids = snowflake({}, { lease });
  ids.next();
  period.abort(new Error("lease expired"));
  assert.throws(() => ids.next(), lockLost("lost"));
  period = new AbortController();
  assert.throws(() => ids.next(), lockLost("lost"));
});

test("bad instance ids and configs are InvalidArgument naming the field", () => {
  const cases: [() => unknown, string][] = [
    [() => snowflake({ instanceId: 1024 }), "instanceId"],
    [() => snowflake({ instanceId: -1 }), "instanceId"],
    [() => snowflake({ instanceId: 1.5 }), "instanceId"],
    [() => snowflake({}), "instanceId"],
    [
      () => snowflake({}, { lease: { id: 4096, signal: new AbortController().signal } }),
      "lease.id",
    ],
    [
      () =>
        snowflake({ instanceId: 1 }, { lease: { id: 2, signal: new AbortController().signal } }),
      "instanceId",
    ],
    [() => snowflake({ instanceId: 1, epochMs: Date.now() + 60_000 }), "epochMs"],
    [() => snowflake({ instanceId: 1, maxClockBackwardsMs: -1 }), "maxClockBackwardsMs"],
    [() => snowflake({ instanceId: 1, maxClockBackwardsMs: 101 }), "maxClockBackwardsMs"],
    [() => snowflake({}, { lease: { id: 2 } as never }), "lease.signal"],
    [
      () => snowflake({}, { lease: { id: 2, signal: { aborted: false } } as never }),
      "lease.signal",
    ],
    [() => snowflake({}, { lease: null as never }), "lease"],
    [
      () =>
        snowflake({}, {
          lease: { id: 2, signal: new AbortController().signal, state: "gone" } as never,
        }),
      "lease.state",
    ],
    [() => snowflake({ instanceId: 1, epochMS: 0 } as never), "epochMS"],
  ];
  for (const [make, field] of cases) {
    assert.throws(
      make,
      (e) => InfraError.is(e, "InvalidArgument") && e.details.field === field,
      field,
    );
  }
});

test("decompose rejects an epoch that is not a non-negative integer", () => {
  for (const epochMs of [NaN, -1, 1.5, "0" as never]) {
    assert.throws(
      () => decompose("123", { epochMs }),
      (e) => InfraError.is(e, "InvalidArgument") && e.details.field === "epochMs",
      String(epochMs),
    );
  }
});

test("decompose rejects what is not a Snowflake id", () => {
  for (
    const bad of ["", "abc", "-1", "12.5", "99999999999999999999", 2n ** 63n, -5n, 42 as never]
  ) {
    assert.throws(() => decompose(bad), (e) => InfraError.is(e, "InvalidArgument"), String(bad));
  }
});

test("ids from the default config decode to the current time", () => {
  const before = Date.now();
  const ids = snowflake({ ...defaultConfig("production"), instanceId: 12 });
  const { timestampMs, instanceId } = ids.decompose(ids.nextString());
  assert.equal(instanceId, 12);
  assert.ok(timestampMs >= before && timestampMs <= Date.now());
  assert.equal(defaultConfig("development").epochMs, EPOCH);
});

test("defaultConfig rejects an environment it does not know, naming the argument", () => {
  for (const env of ["staging", undefined, "Production"]) {
    assert.throws(() => defaultConfig(env as "production"), (e) => {
      assert.ok(InfraError.is(e, "InvalidArgument"), String(e));
      assert.equal(e.component, "uid");
      assert.deepEqual(e.details, { argument: "env" });
      return true;
    }, String(env));
  }
});

test("compose is the inverse of decompose, for any epoch", () => {
  const epochMs = Date.UTC(2020, 5, 1);
  for (
    const parts of [
      { timestampMs: epochMs, instanceId: 0, sequence: 0 },
      { timestampMs: epochMs + 123_456_789, instanceId: 513, sequence: 4000 },
      { timestampMs: epochMs + 2 ** 41 - 1, instanceId: MAX_INSTANCE_ID, sequence: MAX_SEQUENCE },
    ]
  ) {
    const id = compose(parts, { epochMs });
    assert.deepEqual(decompose(id, { epochMs }), parts);
  }
  assert.equal(compose({ timestampMs: EPOCH + 5 }), 5n << 22n);
  assert.equal(
    compose({ timestampMs: EPOCH + 2 ** 41 - 1, instanceId: 1023, sequence: 4095 }),
    2n ** 63n - 1n,
  );
});

test("compose bounds a millisecond: every id issued in it sorts between its min and max", () => {
  const clock = manualClock(EPOCH + 10_000);
  const generators = [0, 512, MAX_INSTANCE_ID].map((instanceId) =>
    snowflake({ instanceId }, { clock })
  );
  const min = compose({ timestampMs: clock.time });
  const max = compose({
    timestampMs: clock.time,
    instanceId: MAX_INSTANCE_ID,
    sequence: MAX_SEQUENCE,
  });
  for (const ids of generators) {
    for (let i = 0; i < 100; i++) {
      const id = ids.next();
      assert.ok(min <= id && id <= max, `${id} outside [${min}, ${max}]`);
    }
  }
  clock.time += 1;
  for (const ids of generators) assert.ok(ids.next() > max);
  assert.ok(compose({ timestampMs: clock.time - 2, instanceId: 1023, sequence: 4095 }) < min);
});

test("compose refuses parts outside the layout with InvalidArgument naming the part", () => {
  const cases: [unknown, string][] = [
    [{ timestampMs: EPOCH - 1 }, "timestampMs"],
    [{ timestampMs: EPOCH + 2 ** 41 }, "timestampMs"],
    [{ timestampMs: 1.5 }, "timestampMs"],
    [{}, "timestampMs"],
    [{ timestampMs: EPOCH, instanceId: 1024 }, "instanceId"],
    [{ timestampMs: EPOCH, instanceId: -1 }, "instanceId"],
    [{ timestampMs: EPOCH, sequence: 4096 }, "sequence"],
    [{ timestampMs: EPOCH, sequence: "1" }, "sequence"],
    [null, "object"],
  ];
  for (const [parts, named] of cases) {
    assert.throws(
      () => compose(parts as { timestampMs: number }),
      (error: unknown) =>
        error instanceof InfraError && error.code === "InvalidArgument" &&
        error.message.includes(named),
      JSON.stringify(parts),
    );
  }
});

/** Asserts `run` throws InvalidArgument naming `field`, with a message matching `message`. */
function invalid(run: () => unknown, field: string, message: RegExp): void {
  assert.throws(run, (e) => {
    assert.ok(InfraError.is(e, "InvalidArgument"), String(e));
    assert.equal(e.details.field, field);
    assert.match(e.message, message);
    return true;
  });
}

test("null options of decompose and compose are InvalidArgument naming the options", () => {
  invalid(
    () => decompose("1", null as never),
    "options",
    /^uid: decompose options must be an object, got null$/,
  );
  invalid(
    () => compose({ timestampMs: EPOCH }, null as never),
    "options",
    /^uid: compose options must be an object, got null$/,
  );
});

test("snowflake's deps that are not an object, or a clock without now(), fail when it is created", () => {
  invalid(
    () => snowflake({ instanceId: 1 }, null as never),
    "",
    /^uid: snowflake deps must be an object, got null$/,
  );
  for (const clock of [{}, 5, { now: 5 }]) {
    // No next(): the generator must not be created at all.
    invalid(
      () => snowflake({ instanceId: 1 }, { clock: clock as never }),
      "clock",
      /^uid: snowflake deps\.clock must be an object with a now\(\) function/,
    );
  }
});

test("a bad lease is named as a dependency, snowflake deps.lease, not as config", () => {
  const signal = new AbortController().signal;
  const cases: [unknown, string][] = [
    [null, "lease"],
    [{ id: 4096, signal }, "lease.id"],
    [{ id: 2 }, "lease.signal"],
    [{ id: 2, signal, state: "gone" }, "lease.state"],
  ];
  for (const [lease, field] of cases) {
    const name = field.replace(".", "\\.");
    invalid(
      () => snowflake({}, { lease: lease as never }),
      field,
      new RegExp(`^uid: snowflake deps\\.${name} must be`),
    );
  }
});

test("the module doc's sample Snowflake id decodes to the instance and time it states", () => {
  const doc = readFileSync(new URL("../../uid/mod.ts", import.meta.url), "utf8");
  const example = doc.match(
    /snowflake\(\{ instanceId: (\d+) \}\);\n \* const messageId = ids\.nextString\(\); \/\/ e\.g\. "(\d+)"(?:: instance (\d+) at\n \* \/\/ (\S+))?/,
  );
  assert.ok(example, "the Snowflake example of uid/mod.ts");
  const [, configured, sample, statedInstance, statedTime] = example;
  const parts = decompose(sample);
  assert.equal(parts.instanceId, Number(configured));
  assert.equal(statedInstance, configured, "the comment names the configured instance");
  assert.equal(parts.timestampMs, Date.parse(statedTime), "the comment states the id's time");
});
