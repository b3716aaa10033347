/**
 * Endpoints of the real services, from the same environment variables
 * `deno task services` reads (defaults: loopback).
 */
import process from "node:process";

function env(name: string, fallback: string): string {
  const value = process.env[name];
  return value && value.length > 0 ? value : fallback;
}

/** etcd client URLs. */
export const etcdEndpoints: string[] = env("GOCHAT_ETCD_ENDPOINTS", "http://127.0.0.1:2379")
  .split(",").map((s) => s.trim()).filter(Boolean);
/** Redis URL. */
export const redisUrl: string = env("GOCHAT_REDIS_URL", "redis://127.0.0.1:6379");
/** Kafka bootstrap brokers (host:port). */
export const kafkaBrokers: string[] = env("GOCHAT_KAFKA_BROKERS", "127.0.0.1:9092")
  .split(",").map((s) => s.trim()).filter(Boolean);
/** PostgreSQL URL. */
export const pgUrl: string = env("GOCHAT_PG_URL", "postgres://postgres@127.0.0.1:5432/test");

/** A name no other test run uses: for topics, key prefixes, tables. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
