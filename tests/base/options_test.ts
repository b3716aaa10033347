/**
 * Every public base function that takes options or a signal: `null` options and a signal
 * that is not an AbortSignal are `InvalidArgument` naming the function and the option.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { failure } from "../_support/failure.ts";
import {
  abortable,
  anySignal,
  checkOptions,
  createCircuitBreaker,
  delay,
  InfraError,
  isAbortSignal,
  retry,
  scopedSignal,
} from "../../base/mod.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

const badSignals: [string, unknown, string][] = [
  ["a number", 5_000, "number"],
  ["a plain object", {}, "object"],
  ["null", null, "null"],
];

const withOptions: [string, (options: Loose) => unknown][] = [
  ["delay", (options) => delay(1, options)],
  ["retry", (options) => retry(() => Promise.resolve(1), options)],
  ["scopedSignal", (options) => scopedSignal(options)],
];

for (const [method, call] of withOptions) {
  test(`base: ${method} with null options is InvalidArgument naming the options`, async () => {
    const error = await failure(() => call(null));
    assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
    assert.equal(
      (error as InfraError).message,
      `base: ${method} options must be an object, got null`,
    );
    assert.equal((error as InfraError).details.field, "options");
  });
}

for (const [method, call] of withOptions.filter(([name]) => name !== "scopedSignal")) {
  for (const [what, signal, kind] of badSignals) {
    test(`base: ${method} with ${what} as signal is InvalidArgument naming options.signal`, async () => {
      const error = await failure(() => call({ signal }));
      assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
      assert.equal(
        (error as InfraError).message,
        `base: ${method} options.signal must be an AbortSignal, got ${kind}`,
      );
      assert.equal((error as InfraError).details.field, "options.signal");
    });
  }
}

test("base: createCircuitBreaker with null options is InvalidArgument", async () => {
  const error = await failure(() => createCircuitBreaker(null as Loose));
  assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
  assert.match(
    (error as Error).message,
    /createCircuitBreaker options must be an object, got null/,
  );
});

test("base: a bad signal among scopedSignal's or anySignal's signals is InvalidArgument", async () => {
  for (const signal of [5_000, {}, null]) {
    const scoped = await failure(() => scopedSignal({ signals: [signal as Loose] }));
    assert.ok(InfraError.is(scoped, "InvalidArgument"), String(scoped));
    assert.match((scoped as Error).message, /scopedSignal options\.signals must be an AbortSignal/);
    const any = await failure(() => anySignal(signal as Loose));
    assert.ok(InfraError.is(any, "InvalidArgument"), String(any));
    assert.match((any as Error).message, /anySignal signals must be an AbortSignal/);
  }
});

test("base: scopedSignal with signals that are not an array is InvalidArgument, also one signal", async () => {
  const cases: [unknown, string][] = [
    [new AbortController().signal, "one AbortSignal (pass it as [signal])"],
    [5_000, "number"],
    [null, "null"],
  ];
  for (const [signals, got] of cases) {
    const error = await failure(() => scopedSignal({ signals: signals as Loose }));
    assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
    assert.equal(
      (error as Error).message,
      `base: scopedSignal options.signals must be an array of AbortSignals, got ${got}`,
    );
    assert.equal((error as InfraError).details.field, "options.signals");
  }
});

test("base: abortable with a bad signal rejects with InvalidArgument naming the caller", async () => {
  for (const signal of [5_000, {}, null]) {
    const error = await failure(() => abortable(Promise.resolve(1), signal as Loose, "cache"));
    assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
    assert.match((error as Error).message, /^cache: abortable signal must be an AbortSignal, got /);
  }
});

test("base: checkOptions returns the same empty options for undefined and the options otherwise", () => {
  const a = checkOptions(undefined, "demo", "run");
  assert.equal(a, checkOptions(undefined, "demo", "run"));
  assert.deepEqual({ ...a }, {});
  const options = { signal: new AbortController().signal };
  assert.equal(checkOptions(options, "demo", "run"), options);
});

test("base: a signal-like object (a polyfill's) is accepted as an AbortSignal", async () => {
  const polyfill = { aborted: false, addEventListener() {}, removeEventListener() {} };
  assert.ok(isAbortSignal(polyfill));
  assert.equal(await delay(1, { signal: polyfill as Loose }), undefined);
});

test("base: a signal-like object without removeEventListener is refused, not a TypeError later", async () => {
  const partial = { aborted: false, addEventListener() {} };
  assert.equal(isAbortSignal(partial), false);
  const error = await failure(() => delay(1, { signal: partial as Loose }));
  assert.ok(InfraError.is(error, "InvalidArgument"), String(error));
});
