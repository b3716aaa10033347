import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type CircuitBreakerOptions,
  type CircuitStateChange,
  createCircuitBreaker,
  InfraError,
} from "../../base/mod.ts";

const fail = () => Promise.reject(new Error("down"));
const ok = () => Promise.resolve("ok");

function clock() {
  let now = 1_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

/** A breaker that opens on its first failure, on a clock the test moves. */
function onTestClock(options: CircuitBreakerOptions) {
  const time = clock();
  return {
    time,
    breaker: createCircuitBreaker({ failureThreshold: 1, now: time.now, ...options }),
  };
}

test("the circuit opens after the failure threshold and rejects without calling", async () => {
  const breaker = createCircuitBreaker({ failureThreshold: 3 });
  for (let i = 0; i < 3; i++) await assert.rejects(breaker.execute(fail), /down/);
  assert.equal(breaker.state, "open");
  let called = false;
  await assert.rejects(
    breaker.execute(() => {
      called = true;
      return ok();
    }),
    (e) => InfraError.is(e, "CircuitOpen") && e.component === "base",
  );
  assert.equal(called, false);
});

test("a success in the closed state resets the consecutive failure count", async () => {
  const breaker = createCircuitBreaker({ failureThreshold: 2 });
  await assert.rejects(breaker.execute(fail));
  await breaker.execute(ok);
  await assert.rejects(breaker.execute(fail));
  assert.equal(breaker.state, "closed");
});

test("after the open timeout the circuit is half-open and closes after enough successes", async () => {
  const { time, breaker } = onTestClock({ successThreshold: 2, openTimeoutMs: 500 });
  await assert.rejects(breaker.execute(fail));
  time.advance(499);
  assert.equal(breaker.state, "open");
  time.advance(1);
  assert.equal(breaker.state, "half-open");
  assert.equal(await breaker.execute(ok), "ok");
  assert.equal(breaker.state, "half-open");
  await breaker.execute(ok);
  assert.equal(breaker.state, "closed");
});

test("a failed probe in the half-open state opens the circuit again", async () => {
  const { time, breaker } = onTestClock({ openTimeoutMs: 100 });
  await assert.rejects(breaker.execute(fail));
  time.advance(100);
  await assert.rejects(breaker.execute(fail), /down/);
  assert.equal(breaker.state, "open");
  time.advance(50);
  await assert.rejects(breaker.execute(ok), (e) => InfraError.is(e, "CircuitOpen"));
});

test("half-open admits only halfOpenMaxCalls probes at once", async () => {
  const { time, breaker } = onTestClock({ openTimeoutMs: 10 });
  await assert.rejects(breaker.execute(fail));
  time.advance(10);
  let release!: () => void;
  const probe = breaker.execute(() => new Promise<void>((resolve) => (release = resolve)));
  await assert.rejects(breaker.execute(ok), (e) => InfraError.is(e, "CircuitOpen"));
  release();
  await probe;
});

test("errors the predicate does not count leave the circuit closed", async () => {
  const breaker = createCircuitBreaker({
    failureThreshold: 2,
    isFailure: (error) => !InfraError.is(error, "NotFound"),
  });
  for (let i = 0; i < 5; i++) {
    await assert.rejects(
      breaker.execute(() => Promise.reject(new InfraError("NotFound", "no user"))),
      (e) => InfraError.is(e, "NotFound"),
    );
  }
  assert.equal(breaker.state, "closed");
});

test("state changes are reported to listeners in order, and unsubscribing stops them", async () => {
  const { time, breaker } = onTestClock({
    name: "profile",
    successThreshold: 1,
    openTimeoutMs: 10,
  });
  const changes: CircuitStateChange[] = [];
  const unsubscribe = breaker.onStateChange((change) => changes.push(change));
  breaker.onStateChange(() => {
    throw new Error("a broken listener is ignored");
  });
  await assert.rejects(breaker.execute(fail));
  time.advance(10);
  await breaker.execute(ok);
  assert.deepEqual(changes, [
    { name: "profile", from: "closed", to: "open" },
    { name: "profile", from: "open", to: "half-open" },
    { name: "profile", from: "half-open", to: "closed" },
  ]);
  unsubscribe();
  await assert.rejects(breaker.execute(fail));
  assert.equal(changes.length, 3);
});

test("reset closes an open circuit", async () => {
  const breaker = createCircuitBreaker({ failureThreshold: 1 });
  await assert.rejects(breaker.execute(fail));
  breaker.reset();
  assert.equal(breaker.state, "closed");
  assert.equal(await breaker.execute(ok), "ok");
});

test("bad breaker options are InvalidArgument", () => {
  for (
    const [options, field] of [
      [{ failureThreshold: 0 }, "failureThreshold"],
      [{ successThreshold: 1.5 }, "successThreshold"],
      [{ halfOpenMaxCalls: 0 }, "halfOpenMaxCalls"],
      [{ openTimeoutMs: -1 }, "openTimeoutMs"],
    ] as const
  ) {
    assert.throws(
      () => createCircuitBreaker(options),
      (e) =>
        InfraError.is(e, "InvalidArgument") && e.details.field === field && e.component === "base",
      field,
    );
  }
});

test("execute of something that is not a function is InvalidArgument and counts for nothing", async () => {
  const { time, breaker } = onTestClock({ successThreshold: 1, openTimeoutMs: 100 });
  const changes: string[] = [];
  breaker.onStateChange(({ to }) => changes.push(to));
  for (const fn of [5, null, undefined, "ok"]) {
    await assert.rejects(
      breaker.execute(fn as never),
      (e) =>
        InfraError.is(e, "InvalidArgument") && e.details.field === "fn" &&
        /execute fn must be a function/.test(e.message),
      String(fn),
    );
  }
  assert.equal(breaker.state, "closed");
  await assert.rejects(breaker.execute(fail), /down/);
  time.advance(100);
  // Half-open with one probe slot: the bad call neither takes it nor fails the probe.
  await assert.rejects(breaker.execute(5 as never), (e) => InfraError.is(e, "InvalidArgument"));
  assert.equal(await breaker.execute(ok), "ok");
  assert.equal(breaker.state, "closed");
  assert.deepEqual(changes, ["open", "half-open", "closed"]);
});

test("breaker callbacks that are not functions are InvalidArgument", () => {
  for (const field of ["isFailure", "now"] as const) {
    assert.throws(
      () => createCircuitBreaker({ [field]: 5 as never }),
      (e) =>
        InfraError.is(e, "InvalidArgument") && e.details.field === field &&
        e.message === `base: circuit breaker: ${field} must be a function, got number`,
      field,
    );
  }
});

test("a throwing isFailure counts the call as failed and frees the probe's slot", async () => {
  const { time, breaker } = onTestClock({
    successThreshold: 1,
    openTimeoutMs: 10,
    isFailure: (error) => {
      if ((error as Error).message === "odd") throw new TypeError("predicate bug");
      return true;
    },
  });
  await assert.rejects(breaker.execute(() => Promise.reject(new Error("odd"))), TypeError);
  assert.equal(breaker.state, "open", "counted as a failure while closed");
  time.advance(10);
  await assert.rejects(breaker.execute(() => Promise.reject(new Error("odd"))), TypeError);
  assert.equal(breaker.state, "open", "the failed probe opened the circuit again");
  time.advance(10);
  assert.equal(await breaker.execute(ok), "ok");
  assert.equal(breaker.state, "closed");
});

test("a probe still running after the open timeout opens the circuit again", async () => {
  const { time, breaker } = onTestClock({ successThreshold: 1, openTimeoutMs: 100 });
  const changes: string[] = [];
  breaker.onStateChange(({ to }) => changes.push(to));
  await assert.rejects(breaker.execute(fail));
  time.advance(100);
  let release!: (value: string) => void;
  const hung = breaker.execute(() => new Promise<string>((resolve) => (release = resolve)));
  time.advance(100);
  assert.equal(breaker.state, "half-open", "a probe may run for the open timeout");
  time.advance(1);
  assert.equal(breaker.state, "open");
  time.advance(100);
  assert.equal(await breaker.execute(ok), "ok");
  assert.equal(breaker.state, "closed");
  release("late");
  assert.equal(await hung, "late");
  assert.equal(breaker.state, "closed", "the late probe's result is ignored");
  assert.deepEqual(changes, ["open", "half-open", "open", "half-open", "closed"]);
});

test("halfOpenMaxCalls admits that many probes at once", async () => {
  const { time, breaker } = onTestClock({
    successThreshold: 2,
    halfOpenMaxCalls: 2,
    openTimeoutMs: 10,
  });
  await assert.rejects(breaker.execute(fail));
  time.advance(10);
  const releases: (() => void)[] = [];
  const probe = () => new Promise<void>((resolve) => releases.push(resolve));
  const probes = [breaker.execute(probe), breaker.execute(probe)];
  await assert.rejects(breaker.execute(ok), (e) => InfraError.is(e, "CircuitOpen"));
  for (const release of releases) release();
  await Promise.all(probes);
  assert.equal(breaker.state, "closed");
});

test("an error the predicate does not count is a successful probe", async () => {
  const { time, breaker } = onTestClock({
    successThreshold: 1,
    openTimeoutMs: 10,
    isFailure: (error) => !InfraError.is(error, "NotFound"),
  });
  await assert.rejects(breaker.execute(fail));
  time.advance(10);
  await assert.rejects(
    breaker.execute(() => Promise.reject(new InfraError("NotFound", "no user"))),
    (e) => InfraError.is(e, "NotFound"),
  );
  assert.equal(breaker.state, "closed");
});

test("a call started before a state change does not count after it", async () => {
  const { time, breaker } = onTestClock({ successThreshold: 1, openTimeoutMs: 10 });
  let failSlow!: () => void;
  const slow = breaker.execute(
    () => new Promise<never>((_, reject) => (failSlow = () => reject(new Error("slow")))),
  );
  await assert.rejects(breaker.execute(fail));
  time.advance(10);
  await breaker.execute(ok);
  assert.equal(breaker.state, "closed");
  failSlow();
  await assert.rejects(slow, /slow/);
  assert.equal(breaker.state, "closed", "the failure from before the change is ignored");
});

test("reset also forgets calls started before it", async () => {
  const breaker = createCircuitBreaker({ failureThreshold: 2 });
  let failSlow!: () => void;
  const slow = breaker.execute(
    () => new Promise<never>((_, reject) => (failSlow = () => reject(new Error("slow")))),
  );
  await assert.rejects(breaker.execute(fail));
  breaker.reset();
  failSlow();
  await assert.rejects(slow, /slow/);
  await assert.rejects(breaker.execute(fail));
  assert.equal(breaker.state, "closed", "only one failure counts since the reset");
});
