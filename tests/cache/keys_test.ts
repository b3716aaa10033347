/**
 * Key prefixing, hash tags and cluster slots.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { clusterSlot, hashTag, KeySpace } from "../../cache/keys.ts";

test("keys: the slot is CRC16 of the key mod 16384, as Redis Cluster computes it", () => {
  // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
  assert.equal(clusterSlot("foo"), 12182);
  assert.equal(clusterSlot("123456789"), 12739);
  assert.equal(clusterSlot(""), 0);
  assert.equal(clusterSlot("{user1000}.following"), clusterSlot("{user1000}.followers"));
  assert.equal(clusterSlot("{user1000}.following"), clusterSlot("user1000"));
});

test("keys: the hash tag is the text between the first { and the next }, if not empty", () => {
  assert.equal(hashTag("{user:1}:profile"), "user:1");
  assert.equal(hashTag("app:{user:1}:profile"), "user:1");
  assert.equal(hashTag("foo{}{bar}"), undefined);
  assert.equal(hashTag("foo{{bar}}zap"), "{bar");
  assert.equal(hashTag("foo{bar}{zap}"), "bar");
  assert.equal(hashTag("plain"), undefined);
  assert.equal(hashTag("open{only"), undefined);
});

test("keys: the prefix is prepended and never changes a key's tag", () => {
  const keys = new KeySpace("im:");
  assert.equal(keys.full("{room:9}:members"), "im:{room:9}:members");
  assert.equal(
    clusterSlot(keys.full("{room:9}:members")),
    clusterSlot(keys.full("{room:9}:messages")),
  );
});

test("keys: a prefix with braces is rejected, an empty prefix is allowed", () => {
  for (const prefix of ["{app}:", "app{", "a}b"]) {
    assert.throws(() => new KeySpace(prefix), (e: unknown) => InfraError.is(e, "InvalidArgument"));
  }
  assert.equal(new KeySpace("").full("k"), "k");
});

test("keys: companions start with the prefix and share the key's slot", () => {
  const keys = new KeySpace("im:");
  for (const key of ["user:1", "{user:1}:profile", "a{b", "x"]) {
    const full = keys.full(key);
    const companion = keys.companion(full, ":absent");
    assert.ok(companion.startsWith("im:"), companion);
    assert.equal(clusterSlot(companion), clusterSlot(full), key);
  }
  assert.equal(keys.companion("im:user:1", ":lock"), "im:{im:user:1}:lock");
  assert.equal(keys.companion("im:{user:1}", ":lock"), "im:{user:1}:lock");
  // A "}" without a valid tag cannot be wrapped: plain suffix (documented: another slot).
  assert.equal(keys.companion("im:a{}b", ":lock"), "im:a{}b:lock");
});

test("keys: empty and non-string keys are InvalidArgument naming the field", () => {
  const keys = new KeySpace("");
  assert.throws(() => keys.full(""), (e: unknown) => InfraError.is(e, "InvalidArgument"));
  assert.throws(
    () => keys.full(1 as unknown as string),
    (e: unknown) => InfraError.is(e, "InvalidArgument"),
  );
  assert.throws(() => keys.fullAll(["a", ""]), (e: unknown) => {
    assert.ok(InfraError.is(e, "InvalidArgument"));
    assert.equal((e as InfraError).details.field, "keys[1]");
    return true;
  });
});
