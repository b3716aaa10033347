import assert from "node:assert/strict";

/** Calls `run` and returns what it threw or rejected with; fails the test when it did not. */
export async function failure(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  assert.fail("expected an error");
}
