import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffCap, delay, InfraError, retry } from "../../base/mod.ts";
import { within } from "../_support/process.ts";

const unavailable = () => new InfraError("Unavailable", "down");

test("retry returns the first successful result", async () => {
  let calls = 0;
  const value = await retry((attempt) => {
    calls++;
    return attempt < 3 ? Promise.reject(unavailable()) : Promise.resolve("ok");
  }, { maxAttempts: 5, initialDelayMs: 1 });
  assert.equal(value, "ok");
  assert.equal(calls, 3);
});

test("retry throws the last error unchanged when attempts run out", async () => {
  let calls = 0;
  const errors: InfraError[] = [];
  await assert.rejects(
    retry(() => {
      calls++;
      const error = unavailable();
      errors.push(error);
      return Promise.reject(error);
    }, { maxAttempts: 4, initialDelayMs: 1 }),
    (e) => e === errors[errors.length - 1],
  );
  assert.equal(calls, 4);
});

test("retry does not retry an error the predicate rejects", async () => {
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(new InfraError("InvalidArgument", "bad"));
    }, { maxAttempts: 5, initialDelayMs: 1 }),
    (e) => InfraError.is(e, "InvalidArgument"),
  );
  assert.equal(calls, 1);
});

test("a custom retryable predicate sees the error and the attempt", async () => {
  const seen: number[] = [];
  await assert.rejects(
    retry(() => Promise.reject(new Error("plain")), {
      maxAttempts: 10,
      initialDelayMs: 1,
      retryable: (error, attempt) => {
        seen.push(attempt);
        return (error as Error).message === "plain" && attempt < 3;
      },
    }),
    /plain/,
  );
  assert.deepEqual(seen, [1, 2, 3]);
});

test("backoff caps grow by the multiplier up to maxDelayMs", () => {
  const options = { initialDelayMs: 100, multiplier: 2, maxDelayMs: 1_000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffCap(a, options)), [
    100,
    200,
    400,
    800,
    1000,
    1000,
  ]);
});

test("full jitter waits uniformly between zero and the cap", async () => {
  const delays: number[] = [];
  const randoms = [0, 0.5, 0.999];
  await assert.rejects(
    retry(() => Promise.reject(unavailable()), {
      maxAttempts: 4,
      initialDelayMs: 10,
      multiplier: 2,
      random: () => randoms.shift()!,
      onRetry: ({ delayMs }) => delays.push(delayMs),
    }),
  );
  assert.deepEqual(delays, [0, 10, 39]);
});

test("jitter none waits exactly the cap", async () => {
  const delays: number[] = [];
  await assert.rejects(
    retry(() => Promise.reject(unavailable()), {
      maxAttempts: 3,
      initialDelayMs: 5,
      jitter: "none",
      onRetry: ({ delayMs, attempt, error }) => {
        assert.ok(InfraError.is(error, "Unavailable"));
        delays.push(delayMs + attempt * 1000);
      },
    }),
  );
  assert.deepEqual(delays, [1005, 2010]);
});

test("retry stops before a wait that would pass the deadline", async () => {
  let calls = 0;
  const started = Date.now();
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(unavailable());
    }, {
      maxAttempts: Infinity,
      deadlineMs: 200,
      initialDelayMs: 40,
      jitter: "none",
      multiplier: 1,
    }),
    (e) => InfraError.is(e, "Unavailable"),
  );
  const elapsed = Date.now() - started;
  assert.ok(calls >= 2 && calls <= 6, `calls ${calls}`);
  assert.ok(elapsed < 400, `elapsed ${elapsed}`);
});

test("an abort during the wait rejects with Aborted and keeps the last error as cause", async () => {
  const controller = new AbortController();
  const last = unavailable();
  const running = retry(() => Promise.reject(last), {
    maxAttempts: 5,
    initialDelayMs: 10_000,
    jitter: "none",
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(), 20);
  // Within far less than the 10 s wait: the abort must cut the wait short.
  await assert.rejects(
    within(running, 2_000, "retry after its signal fired during a wait"),
    (e) => InfraError.is(e, "Aborted") && e.cause === last,
  );
});

test("a deadline alone bounds the attempts: more than the default three", async () => {
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(unavailable());
    }, { deadlineMs: 150, initialDelayMs: 5, maxDelayMs: 5, jitter: "none" }),
    (e) => InfraError.is(e, "Unavailable"),
  );
  assert.ok(calls > 3, `calls ${calls}`);
});

test("an already aborted signal prevents the first attempt", async () => {
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.resolve(1);
    }, { signal: AbortSignal.abort() }),
    (e) => InfraError.is(e, "Aborted"),
  );
  assert.equal(calls, 0);
});

test("bad retry options are InvalidArgument naming the field", async () => {
  const cases: [Record<string, number>, string][] = [
    [{ maxAttempts: 0 }, "maxAttempts"],
    [{ maxAttempts: Infinity }, "maxAttempts"],
    [{ deadlineMs: -1 }, "deadlineMs"],
    [{ deadlineMs: Infinity }, "deadlineMs"],
    [{ maxAttempts: 2.5 }, "maxAttempts"],
    [{ initialDelayMs: -5 }, "initialDelayMs"],
    [{ multiplier: 0.5 }, "multiplier"],
  ];
  for (const [options, field] of cases) {
    await assert.rejects(
      retry(() => Promise.resolve(1), options),
      (e) => InfraError.is(e, "InvalidArgument") && e.details.field === field,
    );
  }
});

test("retry of something that is not a function is InvalidArgument naming fn", async () => {
  for (const fn of [null, undefined, 5]) {
    await assert.rejects(
      retry(fn as never),
      (e) =>
        InfraError.is(e, "InvalidArgument") && e.details.field === "fn" &&
        e.message === `base: retry: fn must be a function, got ${fn === null ? "null" : typeof fn}`,
      String(fn),
    );
  }
});

test("a bad jitter, or callbacks that are not functions, are InvalidArgument before any attempt", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ jitter: "bogus" }, "jitter"],
    [{ jitter: 1 }, "jitter"],
    [{ random: 0.5 }, "random"],
    [{ retryable: true }, "retryable"],
    [{ onRetry: "log" }, "onRetry"],
  ];
  for (const [options, field] of cases) {
    let calls = 0;
    await assert.rejects(
      retry(() => Promise.resolve(++calls), options as never),
      (e) => InfraError.is(e, "InvalidArgument") && e.details.field === field,
      field,
    );
    assert.equal(calls, 0, field);
  }
});

test("a random source returning a value outside [0, 1) is InvalidArgument naming random", async () => {
  for (const value of [-0.5, 1, 2, NaN]) {
    let calls = 0;
    await assert.rejects(
      retry(() => {
        calls++;
        return Promise.reject(unavailable());
      }, { initialDelayMs: 1, random: () => value }),
      (e) =>
        InfraError.is(e, "InvalidArgument") && e.details.field === "random" &&
        /must return a number in \[0, 1\)/.test(e.message),
      String(value),
    );
    assert.equal(calls, 1, String(value));
  }
});

test("an abort during an attempt rejects at once, and the attempt's signal fires", async () => {
  const controller = new AbortController();
  let attemptSignal: AbortSignal | undefined;
  const running = retry((_attempt, { signal }) => {
    attemptSignal = signal;
    return new Promise<never>(() => {}); // ignores its signal and never settles
  }, { signal: controller.signal });
  assert.equal(attemptSignal?.aborted, false);
  controller.abort();
  await assert.rejects(running, (e) => InfraError.is(e, "Aborted"));
  assert.equal(attemptSignal?.aborted, true);
});

test("the deadline abandons a running attempt with Timeout, the last error as cause", async () => {
  const first = unavailable();
  const signals: AbortSignal[] = [];
  await assert.rejects(
    retry((attempt, { signal }) => {
      signals.push(signal);
      return attempt === 1 ? Promise.reject(first) : delay(60_000, { signal });
    }, { maxAttempts: Infinity, deadlineMs: 100, initialDelayMs: 1 }),
    (e) => {
      assert.ok(InfraError.is(e, "Timeout"), String(e));
      assert.equal(e.cause, first);
      assert.equal(e.component, "base");
      return true;
    },
  );
  assert.deepEqual(signals.map((s) => s.aborted), [false, true]);
});

test("an abort reason that is an InfraError keeps its code during the wait", async () => {
  const controller = new AbortController();
  const last = unavailable();
  const running = retry(() => Promise.reject(last), {
    initialDelayMs: 10_000,
    jitter: "none",
    signal: controller.signal,
    onRetry: () => controller.abort(new InfraError("LockLost", "lease expired")),
  });
  await assert.rejects(running, (e) => InfraError.is(e, "LockLost") && e.cause === last);
});

test("a backoff longer than setTimeout's limit is waited in full", async () => {
  const controller = new AbortController();
  let calls = 0;
  const running = retry(() => {
    calls++;
    return Promise.reject(unavailable());
  }, {
    maxAttempts: 50,
    initialDelayMs: 3e9,
    maxDelayMs: 3e9,
    jitter: "none",
    signal: controller.signal,
  });
  await delay(50);
  controller.abort();
  await assert.rejects(running, (e) => InfraError.is(e, "Aborted"));
  assert.equal(calls, 1);
});

test("maxDelayMs caps every wait", async () => {
  const delays: number[] = [];
  await assert.rejects(
    retry(() => Promise.reject(unavailable()), {
      maxAttempts: 5,
      initialDelayMs: 2,
      maxDelayMs: 5,
      jitter: "none",
      onRetry: ({ delayMs }) => delays.push(delayMs),
    }),
  );
  assert.deepEqual(delays, [2, 4, 5, 5]);
});

test("a zero initial delay stays zero however many attempts were made", () => {
  assert.equal(backoffCap(5_000, { initialDelayMs: 0 }), 0);
});

test("bad backoff bounds are InvalidArgument from base naming the field", async () => {
  const cases: [Record<string, number>, string][] = [
    [{ maxDelayMs: -1 }, "maxDelayMs"],
    [{ maxDelayMs: Infinity }, "maxDelayMs"],
    [{ initialDelayMs: Infinity }, "initialDelayMs"],
    [{ multiplier: Infinity }, "multiplier"],
  ];
  for (const [options, field] of cases) {
    await assert.rejects(
      retry(() => Promise.resolve(1), options),
      (e) =>
        InfraError.is(e, "InvalidArgument") && e.details.field === field && e.component === "base",
      field,
    );
  }
});
