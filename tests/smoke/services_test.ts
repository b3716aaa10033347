/**
 * Proves each real service works through the client the library uses.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Etcd3 } from "etcd3";
import { Redis } from "ioredis";
import kafkajs from "kafkajs";
import postgres from "postgres";
import { drizzle } from "drizzle-orm/postgres-js";
import { integer, pgTable, text } from "drizzle-orm/pg-core";
import { eq } from "drizzle-orm";
import { etcdEndpoints, kafkaBrokers, pgUrl, redisUrl, uniqueName } from "../_support/env.ts";
import { within } from "../_support/process.ts";

test("etcd: put, get and watch through etcd3", async () => {
  const client = new Etcd3({ hosts: etcdEndpoints });
  const key = `/smoke/${uniqueName("key")}`;
  try {
    await client.put(key).value("v1");
    assert.equal(await client.get(key).string(), "v1");

    const watcher = await client.watch().key(key).create();
    try {
      const seen = new Promise<string>((resolve) =>
        watcher.on("put", (kv) => resolve(kv.value.toString()))
      );
      await client.put(key).value("v2");
      assert.equal(await within(seen, 10_000, "the watched put"), "v2");
    } finally {
      await watcher.cancel();
    }
    await client.delete().key(key);
    assert.equal(await client.get(key).string(), null);
  } finally {
    client.close();
  }
});

test("kafka: a produced message is consumed from a fresh topic through kafkajs", async () => {
  const kafka = new kafkajs.Kafka({
    clientId: "smoke",
    brokers: kafkaBrokers,
    logLevel: kafkajs.logLevel.NOTHING,
  });
  const topic = uniqueName("smoke");
  const admin = kafka.admin();
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: uniqueName("smoke-group") });
  try {
    await admin.connect();
    assert.equal(
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }),
      true,
    );
    await producer.connect();
    await producer.send({
      topic,
      messages: [{ key: "k", value: "hello kafka", headers: { h: "1" } }],
    });

    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = new Promise<{ key: string; value: string; header: string }>((resolve) => {
      consumer.run({
        eachMessage: ({ message }) => {
          resolve({
            key: message.key!.toString(),
            value: message.value!.toString(),
            header: message.headers!.h!.toString(),
          });
          return Promise.resolve();
        },
      });
    });
    assert.deepEqual(await within(received, 60_000, "the produced message"), {
      key: "k",
      value: "hello kafka",
      header: "1",
    });
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  }
});

test("redis: EVAL runs a Lua script through ioredis", async () => {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  const key = uniqueName("smoke");
  try {
    await redis.connect();
    const result = await redis.eval(
      "redis.call('SET', KEYS[1], ARGV[1], 'PX', 60000); return redis.call('INCRBY', KEYS[1], ARGV[2])",
      1,
      key,
      "40",
      "2",
    );
    assert.equal(result, 42);
    assert.equal(await redis.get(key), "42");
    await redis.del(key);
  } finally {
    redis.disconnect();
  }
});

test("postgres: drizzle over postgres.js inserts and selects", async () => {
  const sql = postgres(pgUrl, { max: 2, onnotice: () => {} });
  const name = uniqueName("smoke");
  const table = pgTable(name, { id: integer("id").primaryKey(), body: text("body").notNull() });
  try {
    await sql.unsafe(`create table "${name}" (id integer primary key, body text not null)`);
    const db = drizzle(sql);
    await db.insert(table).values([{ id: 1, body: "hello" }, { id: 2, body: "world" }]);
    const rows = await db.select().from(table).where(eq(table.id, 2));
    assert.deepEqual(rows, [{ id: 2, body: "world" }]);
  } finally {
    await sql.unsafe(`drop table if exists "${name}"`);
    await sql.end();
  }
});
