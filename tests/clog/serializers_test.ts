import { test } from "node:test";
import assert from "node:assert/strict";
import { type FieldSerializer, withContext } from "../../clog/mod.ts";
import { capture } from "./_capture.ts";

test("a web Request is written as its method, url and headers, with secret headers redacted", () => {
  const { root, json } = capture();
  const req = new Request("https://chat.example/api/messages?room=7", {
    method: "POST",
    headers: { authorization: "Bearer secret", "x-request-id": "r-42" },
    body: "never read",
  });
  root.info("request", { req });
  const { method, url, headers } = json()[0].req as Record<string, Record<string, string>>;
  assert.deepEqual([method, url], ["POST", "https://chat.example/api/messages?room=7"]);
  assert.equal(headers.authorization, "[REDACTED]");
  assert.equal(headers["x-request-id"], "r-42");
  assert.equal(req.bodyUsed, false);
});

test("a web Response is written as its status and headers", () => {
  const { root, json } = capture();
  const res = new Response(null, {
    status: 429,
    statusText: "Too Many Requests",
    headers: { "retry-after": "3", "set-cookie": "session=abc" },
  });
  root.warn("response", { res });
  assert.deepEqual(json()[0].res, {
    status: 429,
    statusText: "Too Many Requests",
    headers: { "retry-after": "3", "set-cookie": "[REDACTED]" },
  });
});

/** A root logger with the `user` serializer, writing JSON and text lines and records. */
function withUserSerializer(user: FieldSerializer) {
  return capture(
    {
      sinks: [
        { type: "stream", name: "lines" },
        { type: "stream", name: "lines", format: "text" },
        { type: "custom", name: "records" },
      ],
    },
    undefined,
    { user },
  );
}

const admin = { id: 7, role: "admin", passwordHash: "x" };
const idOnly: FieldSerializer = (value) => ({ id: (value as { id: number }).id });

test("a serializer from the dependencies writes what it makes of the field of its name", () => {
  const { root, lines, records } = withUserSerializer(idOnly);
  root.info("signed in", { user: admin, other: admin });
  assert.deepEqual(JSON.parse(lines[0]).user, { id: 7 });
  assert.deepEqual(JSON.parse(lines[0]).other, admin);
  assert.match(lines[1], / user={"id":7} other=/);
  assert.deepEqual(records[0].fields.user, { id: 7 });
});

test("a serializer applies to bound and context fields of its name too", () => {
  const { root, lines } = withUserSerializer(idOnly);
  root.with({ user: admin }).info("bound");
  withContext({ user: { ...admin, id: 8 } }, () => root.info("in context"));
  assert.deepEqual(lines.filter((_, i) => i % 2 === 0).map((line) => JSON.parse(line).user), [
    { id: 7 },
    { id: 8 },
  ]);
});

test("a serializer that throws costs its field only", () => {
  const { root, lines } = withUserSerializer(() => {
    throw new Error("bad user");
  });
  root.info("still logged", { user: admin, roomId: 3 });
  const line = JSON.parse(lines[0]);
  assert.equal(line.user, "[Thrown: bad user]");
  assert.equal(line.roomId, 3);
});

test("a serializer that returns undefined leaves the field out", () => {
  const { root, lines } = withUserSerializer(() => undefined);
  root.info("no user", { user: admin });
  assert.equal("user" in JSON.parse(lines[0]), false);
});

test("what a serializer returns is redacted like any value", () => {
  const { root, lines } = withUserSerializer((value) => value);
  root.info("as is", { user: admin, token: "t" });
  assert.equal(JSON.parse(lines[0]).user.passwordHash, "x");
  assert.equal(JSON.parse(lines[0]).token, "[REDACTED]");
  const { root: other, lines: more } = withUserSerializer(() => ({ secret: "s", id: 1 }));
  other.info("nested secret", { user: admin });
  assert.deepEqual(JSON.parse(more[0]).user, { secret: "[REDACTED]", id: 1 });
});
