/**
 * The chat service's own settings: plain JSON in the config center at
 * `/config/{env}/chat/app`, validated with a zod schema (any Standard Schema library works)
 * and hot-reloaded while the service runs.
 *
 * @module
 */

import { z } from "zod";
import { InfraError } from "../../base/mod.ts";
import { LEVELS, type LogLevel } from "../../clog/mod.ts";
import { configKey } from "../../coord/mod.ts";

/** The service name: in the registry, in config keys, and in the instance-id allocator. */
export const SERVICE = "chat";

/** The settings of the chat service (all hot-reloadable). */
export interface ChatConfig {
  /** Longest accepted message text, in characters (Unicode code points). */
  maxMessageLength: number;
  /** How many recent messages each room keeps (and a read returns at most). */
  recentWindow: number;
  /** How long an idle room's recent window is kept, in ms. */
  recentTtlMs: number;
  /** How long a `clientMessageId` is remembered to reject duplicates, in ms. */
  dedupeTtlMs: number;
  /** Minimum level of every logger of the process (clog's root is bound to it). */
  logLevel: LogLevel;
}

/**
 * The schema of {@link ChatConfig}. Strict, so a typo in the config center (`recentWindw`)
 * is rejected instead of silently ignored.
 */
export const chatConfigSchema: z.ZodType<ChatConfig> = z.object({
  maxMessageLength: z.number().int().min(1).max(10_000),
  recentWindow: z.number().int().min(1).max(1_000),
  recentTtlMs: z.number().int().min(1_000).max(30 * 86_400_000),
  dedupeTtlMs: z.number().int().min(1_000).max(86_400_000),
  logLevel: z.enum(LEVELS as [LogLevel, ...LogLevel[]]),
}).strict();

/** The settings in force while the config center holds none. */
export const defaultChatConfig: Readonly<ChatConfig> = Object.freeze({
  maxMessageLength: 500,
  recentWindow: 50,
  recentTtlMs: 2 * 3_600_000,
  dedupeTtlMs: 60_000,
  logLevel: "info",
});

/**
 * The config-center key of the chat service's settings: `/config/{env}/chat/app`.
 *
 * @param env The deployment environment, e.g. `"dev"`.
 * @returns The key.
 */
export function chatConfigKey(env: string): string {
  return configKey({ env, service: SERVICE, component: "app" });
}

/**
 * Validates settings with {@link chatConfigSchema}.
 *
 * @param value Anything.
 * @returns The settings.
 * @throws {InfraError} `InvalidArgument` naming the first bad field.
 */
export function checkChatConfig(value: unknown): ChatConfig {
  const result = chatConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.map(String).join(".");
  throw new InfraError("InvalidArgument", `config.${field || "(root)"}: ${issue.message}`, {
    component: SERVICE,
    details: { field },
  });
}
