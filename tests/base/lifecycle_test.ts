import { test } from "node:test";
import assert from "node:assert/strict";
import { closeOnce, InfraError, ResourceStack } from "../../base/mod.ts";

test("closeOnce runs the close once for concurrent and later calls", async () => {
  let runs = 0;
  const close = closeOnce(async () => {
    runs++;
    await new Promise((resolve) => setTimeout(resolve, 10));
  });
  const first = close();
  assert.equal(close(), first);
  await Promise.all([first, close()]);
  await close();
  assert.equal(runs, 1);
});

test("a resource stack closes in reverse order of addition", async () => {
  const order: string[] = [];
  const stack = new ResourceStack();
  stack.defer(() => {
    order.push("first");
  });
  const resource = stack.use({ close: () => void order.push("second") });
  stack.use({ [Symbol.asyncDispose]: () => Promise.resolve(void order.push("third")) });
  assert.equal(typeof resource.close, "function");
  await stack.close();
  await stack.close();
  assert.deepEqual(order, ["third", "second", "first"]);
});

test("failing closes do not stop the others and are reported together at the end", async () => {
  const closed: string[] = [];
  const stack = new ResourceStack();
  stack.defer(() => void closed.push("a"));
  stack.defer(() => {
    throw new Error("b broke");
  });
  stack.defer(() => void closed.push("c"));
  stack.defer(() => Promise.reject(new Error("d broke")));
  await assert.rejects(stack.close(), (e) => {
    assert.ok(InfraError.is(e, "Internal"));
    const cause = e.cause as AggregateError;
    assert.deepEqual(cause.errors.map((error) => error.message), ["d broke", "b broke"]);
    return true;
  });
  assert.deepEqual(closed, ["c", "a"]);
});

test("a single failing close is reported as it is, keeping its code", async () => {
  const closed: string[] = [];
  const stack = new ResourceStack();
  const failure = new InfraError("Unavailable", "redis did not answer QUIT");
  stack.defer(() => void closed.push("a"));
  stack.use({ close: () => Promise.reject(failure) });
  await assert.rejects(stack.close(), (e) => e === failure);
  assert.deepEqual(closed, ["a"]);
});

test("use of something that cannot be closed is InvalidArgument", () => {
  const stack = new ResourceStack();
  for (const resource of [null, undefined, 42, {}, { close: "no" }]) {
    assert.throws(
      () => stack.use(resource as never),
      (e) => InfraError.is(e, "InvalidArgument") && e.component === "base",
      String(resource),
    );
  }
});

test("adding to a closed stack is a Closed error", async () => {
  const stack = new ResourceStack();
  await stack.close();
  assert.throws(() => stack.defer(() => {}), (e) => InfraError.is(e, "Closed"));
});

test("await using closes the stack at the end of the block", async () => {
  let closed = false;
  {
    await using stack = new ResourceStack();
    stack.defer(() => {
      closed = true;
    });
  }
  assert.equal(closed, true);
});
