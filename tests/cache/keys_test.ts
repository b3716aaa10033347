/**
 * Key prefixing, hash tags and cluster slots.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { InfraError } from "../../base/mod.ts";
import { clusterSlot, hashTag, KeySpace, RESERVED } from "../../cache/keys.ts";

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

test("keys: companions start with the prefix and the reserved mark, and share the key's slot", () => {
  const keys = new KeySpace("im:");
  const users = keys.namespace("users");
  for (const space of [keys, users]) {
    for (const key of ["user:1", "{user:1}:profile", "a{b", "x", "a{}b", "a}b", "}{x}"]) {
      const full = space.full(key);
      const companion = space.companion(full, ":absent");
      assert.ok(companion.startsWith(`${space.keyPrefix}${RESERVED}{`), companion);
      assert.equal(clusterSlot(companion), clusterSlot(full), key);
    }
  }
  assert.equal(keys.companion("im:user:1", ":lock"), `im:${RESERVED}{im:user:1}:lock`);
  assert.equal(keys.companion("im:{user:1}", ":lock"), `im:${RESERVED}{user:1}im:{user:1}:lock`);
  // A "}" without a valid tag: a number that hashes to the key's slot is the tag.
  assert.match(keys.companion("im:a{}b", ":lock"), /^im:__gochat_cache:\{\d+\}im:a\{\}b:lock$/);
});

test("keys: namespace keys cannot meet root keys, other namespaces' keys or companions", () => {
  const root = new KeySpace("im:");
  const users = root.namespace("users");
  const admins = users.namespace("admins");
  assert.notEqual(users.full("1"), root.full("users:1"));
  assert.notEqual(admins.full("2"), users.full("admins:2"));
  assert.ok(!root.full("users:1").startsWith(users.namespacePrefixes()[0]));
  assert.ok(!root.full("users:1").startsWith(users.namespacePrefixes()[1]));
  assert.ok(!root.namespace("users2").full("1").startsWith(users.namespacePrefixes()[0]));
  // The namespace's own keys, companions and nested namespaces are under its prefixes.
  const covered = (full: string) => users.namespacePrefixes().some((p) => full.startsWith(p));
  assert.ok(covered(users.full("1")));
  assert.ok(covered(users.companion(users.full("1"), ":absent")));
  assert.ok(covered(admins.full("2")));
  assert.ok(covered(admins.companion(admins.full("2"), ":fill")));
  assert.ok(!covered(root.companion(root.full("users:1"), ":absent")));
  assert.ok(!covered(users.tagKey("t")), "tag records are not keys of the namespace");
  // Any key space of the cache names the same companion of a key.
  assert.equal(
    root.companion(admins.full("2"), ":absent"),
    admins.companion(admins.full("2"), ":absent"),
  );
  assert.equal(admins.companion(root.full("x"), ":fill"), root.companion(root.full("x"), ":fill"));
  assert.deepEqual(root.namespacePrefixes(), []);
});

test("keys: a key that starts with the reserved mark is InvalidArgument", () => {
  for (const space of [new KeySpace(""), new KeySpace("im:").namespace("users")]) {
    assert.throws(() => space.full(`${RESERVED}tag:|t`), (e: unknown) => {
      assert.ok(InfraError.is(e, "InvalidArgument"));
      assert.equal((e as InfraError).details.field, "key");
      return true;
    });
  }
  assert.equal(new KeySpace("").full(`x${RESERVED}`), `x${RESERVED}`);
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
