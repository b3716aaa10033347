import { test } from "node:test";
import assert from "node:assert/strict";
import {
  abortable,
  abortError,
  anySignal,
  delay,
  InfraError,
  scopedSignal,
  throwIfAborted,
  timeoutSignal,
} from "../../base/mod.ts";

test("timeoutSignal aborts after the time with a Timeout InfraError", async () => {
  const signal = timeoutSignal(20, "demo");
  assert.equal(signal.aborted, false);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(signal.aborted, true);
  assert.ok(InfraError.is(signal.reason, "Timeout"));
  assert.equal((signal.reason as InfraError).component, "demo");
});

test("timeoutSignal rejects a negative or infinite time", () => {
  assert.throws(() => timeoutSignal(-1), (e) => InfraError.is(e, "InvalidArgument"));
  assert.throws(() => timeoutSignal(Infinity), (e) => InfraError.is(e, "InvalidArgument"));
  assert.throws(() => timeoutSignal(NaN), (e) => InfraError.is(e, "InvalidArgument"));
});

test("anySignal ignores undefined and follows the first signal to abort", () => {
  const a = new AbortController();
  const b = new AbortController();
  const signal = anySignal(undefined, a.signal, b.signal);
  assert.equal(signal.aborted, false);
  b.abort("b went first");
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, "b went first");
});

test("anySignal of nothing never aborts, of one signal is that signal", () => {
  assert.equal(anySignal().aborted, false);
  assert.equal(anySignal(undefined, undefined).aborted, false);
  const only = new AbortController().signal;
  assert.equal(anySignal(only), only);
});

test("anySignal of an already aborted signal is aborted", () => {
  const signal = anySignal(AbortSignal.abort("early"), new AbortController().signal);
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, "early");
});

// What an AbortController polyfill (or another realm) hands out: a signal that is no
// instance of this realm's AbortSignal.
class PolyfillSignal extends EventTarget {
  aborted = false;
  reason: unknown = undefined;
  abort(reason: unknown): void {
    this.aborted = true;
    this.reason = reason;
    this.dispatchEvent(new Event("abort"));
  }
}

test("anySignal follows a polyfill's signal like a native one", () => {
  const polyfill = new PolyfillSignal();
  const native = new AbortController();
  const signal = anySignal(polyfill as unknown as AbortSignal, native.signal);
  assert.equal(signal.aborted, false);
  polyfill.abort("the polyfill went first");
  native.abort("later");
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, "the polyfill went first");

  const early = new PolyfillSignal();
  early.abort("early");
  const both = anySignal(new PolyfillSignal() as unknown as AbortSignal, early as never);
  assert.equal(both.reason, "early");
});

test("abortError maps reasons to Aborted or Timeout", () => {
  assert.equal(abortError(AbortSignal.abort("stop")).code, "Aborted");
  const timeout = new DOMException("signal timed out", "TimeoutError");
  assert.equal(abortError(AbortSignal.abort(timeout)).code, "Timeout");
  const own = new InfraError("LockLost", "lease expired");
  assert.equal(abortError(AbortSignal.abort(own)), own);
});

test("throwIfAborted throws only for an aborted signal", () => {
  throwIfAborted(undefined);
  throwIfAborted(new AbortController().signal);
  assert.throws(() => throwIfAborted(AbortSignal.abort(), "x"), (e) => InfraError.is(e, "Aborted"));
});

test("delay waits, and rejects with Aborted when its signal fires", async () => {
  const started = Date.now();
  await delay(30);
  assert.ok(Date.now() - started >= 25);
  const controller = new AbortController();
  const waiting = delay(10_000, { signal: controller.signal });
  controller.abort();
  await assert.rejects(waiting, (e) => InfraError.is(e, "Aborted"));
  await assert.rejects(
    delay(10, { signal: AbortSignal.abort() }),
    (e) => InfraError.is(e, "Aborted"),
  );
});

test("abortable settles like the promise unless the signal fires first", async () => {
  assert.equal(await abortable(Promise.resolve(7), new AbortController().signal), 7);
  await assert.rejects(abortable(Promise.reject(new Error("inner")), undefined), /inner/);
  const controller = new AbortController();
  const never = new Promise<number>(() => {});
  const racing = abortable(never, controller.signal, "demo");
  controller.abort();
  await assert.rejects(racing, (e) => InfraError.is(e, "Aborted"));
});

test("delay rejects a negative, NaN or infinite time with InvalidArgument", async () => {
  for (const ms of [-5, NaN, Infinity]) {
    await assert.rejects(delay(ms), (e) => InfraError.is(e, "InvalidArgument"), String(ms));
  }
});

test("a delay longer than setTimeout's limit does not end early", async () => {
  const controller = new AbortController();
  const long = delay(2 ** 31 + 10, { signal: controller.signal }).then(() => "long");
  const first = await Promise.race([long, delay(50).then(() => "short")]);
  controller.abort();
  assert.equal(first, "short");
  await assert.rejects(long, (e) => InfraError.is(e, "Aborted"));
});

test("a scoped signal follows its signals and aborts with the first reason", () => {
  const a = new AbortController();
  const b = new AbortController();
  using scope = scopedSignal({ signals: [a.signal, undefined, b.signal] });
  assert.equal(scope.signal.aborted, false);
  b.abort("b went first");
  a.abort("a later");
  assert.equal(scope.signal.aborted, true);
  assert.equal(scope.signal.reason, "b went first");
});

test("a scoped signal of an already aborted signal is aborted", () => {
  using scope = scopedSignal({
    signals: [new AbortController().signal, AbortSignal.abort("early")],
  });
  assert.equal(scope.signal.reason, "early");
});

test("a scoped signal times out with a Timeout InfraError naming the component", async () => {
  using scope = scopedSignal({ timeoutMs: 10, component: "demo" });
  await new Promise((resolve) => scope.signal.addEventListener("abort", resolve));
  assert.ok(InfraError.is(scope.signal.reason, "Timeout"));
  assert.equal((scope.signal.reason as InfraError).component, "demo");
});

test("a disposed scoped signal no longer follows its signals or its timeout", async () => {
  const parent = new AbortController();
  const scope = scopedSignal({ signals: [parent.signal], timeoutMs: 10 });
  scope[Symbol.dispose]();
  scope[Symbol.dispose]();
  parent.abort();
  await delay(30);
  assert.equal(scope.signal.aborted, false);
});

test("a scoped signal's timeout longer than setTimeout's limit does not fire early", async () => {
  using scope = scopedSignal({ timeoutMs: 2 ** 31 + 10 });
  await delay(50);
  assert.equal(scope.signal.aborted, false);
});

test("a scoped signal rejects a negative or infinite timeout", () => {
  for (const timeoutMs of [-1, NaN, Infinity]) {
    assert.throws(
      () => scopedSignal({ timeoutMs }),
      (e) => InfraError.is(e, "InvalidArgument"),
      String(timeoutMs),
    );
  }
});
