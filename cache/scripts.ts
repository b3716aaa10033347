/**
 * The cache's own scripts. Each one touches only the keys it is given (all in one slot,
 * see `KeySpace.companion`), and each has a JavaScript twin with the same effect for the memory
 * driver.
 *
 * @module
 */

import type { ScriptContext } from "./connection.ts";
import { defineScript as defineUserScript } from "./script.ts";
import type { MemoryScript, ScriptSource } from "./connection.ts";

// The cache's own scripts pass values through; their twins see bytes as Lua does.
const defineScript = (lua: string, keyCount: number, memory: MemoryScript): ScriptSource =>
  defineUserScript(lua, keyCount, memory, true);

const ok = (reply: unknown) => reply !== null;

/**
 * Lock acquire. KEYS: lock. ARGV: token, ttlMs. Returns -1 when taken, otherwise the
 * remaining TTL of the current owner's lock (so a waiter knows how long it may wait).
 */
export const LOCK_ACQUIRE: ScriptSource = defineScript(
  `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
return redis.call('PTTL', KEYS[1])`,
  1,
  (redis, keys, args) => {
    if (ok(redis.call("SET", keys[0], args[0], "NX", "PX", args[1]))) return -1;
    return redis.call("PTTL", keys[0]);
  },
);

/**
 * Publishes a wake-up for waiters, ignoring a refusal (as `redis.pcall` does in the Lua):
 * a script is not rolled back when a later command fails, so a PUBLISH its user may not
 * make (an ACL without the channel) would fail the call after its writes were done. The
 * waiters poll anyway; a lost wake-up only delays them.
 */
function wake(redis: ScriptContext, channel: string, message: string): void {
  try {
    redis.call("PUBLISH", channel, message);
  } catch {
    // A hint only; see above.
  }
}

function releaseTwin(redis: ScriptContext, keys: string[], args: string[]): number {
  if (redis.call("GET", keys[0]) !== args[0]) return 0;
  redis.call("DEL", keys[0]);
  wake(redis, args[1], args[2]);
  return 1;
}

/**
 * Lock release. KEYS: lock. ARGV: token, channel, message. Deletes the lock only while it
 * holds `token`, then wakes waiters (a wake-up the ACL refuses is ignored: the lock is
 * released, and the waiters poll); returns 1 when released, 0 when not the owner.
 */
export const LOCK_RELEASE: ScriptSource = defineScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.pcall('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0`,
  1,
  releaseTwin,
);

/** Lock extend. KEYS: lock. ARGV: token, ttlMs. Returns 1 when extended, 0 when not the owner. */
export const LOCK_EXTEND: ScriptSource = defineScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
  1,
  (redis, keys, args) => {
    if (redis.call("GET", keys[0]) !== args[0]) return 0;
    return redis.call("PEXPIRE", keys[0], args[1]);
  },
);

/**
 * A counter step. KEYS: counter. ARGV: by, ttlMs (0 = none), "f" (float step) or "i". An
 * integer step on a counter that holds a float (it once took a fractional step) is taken
 * with INCRBYFLOAT, as {@link Cache.increment} does outside scripts. A TTL is set only when
 * this step created the counter: a window counter (an existing one keeps its TTL, or none).
 */
export const INCREMENT: ScriptSource = defineScript(
  `local v
local created = tonumber(ARGV[2]) > 0 and redis.call('EXISTS', KEYS[1]) == 0
if ARGV[3] == 'f' then
  v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
else
  v = redis.pcall('INCRBY', KEYS[1], ARGV[1])
  if type(v) == 'table' and v.err then
    if not string.find(v.err, 'not an integer', 1, true) then return v end
    v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
  end
end
if created then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v`,
  1,
  (redis, keys, args) => {
    const created = Number(args[1]) > 0 && redis.call("EXISTS", keys[0]) === 0;
    let value;
    if (args[2] === "f") value = redis.call("INCRBYFLOAT", keys[0], args[0]);
    else {
      try {
        value = redis.call("INCRBY", keys[0], args[0]);
      } catch (error) {
        if (!String((error as Error).message).includes("not an integer")) throw error;
        value = redis.call("INCRBYFLOAT", keys[0], args[0]);
      }
    }
    if (created) redis.call("PEXPIRE", keys[0], args[1]);
    return value;
  },
);

/**
 * Ends the cached "not found" (`1`, or `n` and tag pairs) of keys a write may have given a
 * value, keeping a grace marker (`g<ms>`): the write may have left the value in grace as it
 * was. KEYS: the companion markers. Returns how many it deleted.
 */
export const END_NOT_FOUND: ScriptSource = defineScript(
  `local n = 0
for _, k in ipairs(KEYS) do
  local m = redis.pcall('GET', k)
  if type(m) == 'string' and (m == '1' or string.sub(m, 1, 1) == 'n') then n = n + redis.call('DEL', k) end
end
return n`,
  -1,
  (redis, keys) => {
    let deleted = 0;
    for (const key of keys) {
      let marker: unknown = null;
      try {
        marker = redis.call("GET", key);
      } catch { /* not a marker */ }
      if (typeof marker === "string" && (marker === "1" || marker.startsWith("n"))) {
        deleted += redis.call("DEL", key) as number;
      }
    }
    return deleted;
  },
);

/** setMany with a TTL, atomic per slot. KEYS: the keys. ARGV: ttlMs, then one value per key. */
export const SET_MANY_WITH_TTL: ScriptSource = defineScript(
  `for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1]) end
return #KEYS`,
  -1,
  (redis, keys, args) => {
    keys.forEach((key, i) => redis.call("SET", key, args[i + 1], "PX", args[0]));
    return keys.length;
  },
);

/**
 * Lua: the tag header of the entry at `k` (the envelope's mark, JSON of its tag pairs and
 * mark again, see `tags.ts`), or '' when it is missing, not a string or untagged. Only the
 * first 4 KiB are read unless the header is longer.
 */
const HEADER_LUA = `local function header(k)
  local head = redis.pcall('GETRANGE', k, 0, 4095)
  if type(head) ~= 'string' or string.byte(head, 1) ~= 1 then return '' end
  local e = string.find(head, '\\1', 2, true)
  if not e then
    head = redis.call('GET', k)
    e = string.find(head, '\\1', 2, true)
    if not e then return '' end
  end
  local h = string.sub(head, 1, e)
  if h == '\\1[]\\1' then return '' end
  return h
end
`;

/** The JavaScript twin of {@link HEADER_LUA} (byte strings). */
function headerTwin(redis: ScriptContext, key: string): string {
  let value: unknown;
  try {
    value = redis.call("GET", key);
  } catch {
    return ""; // not a string
  }
  if (typeof value !== "string" || value.charCodeAt(0) !== 1) return "";
  const end = value.indexOf("\x01", 1);
  if (end < 0) return "";
  const header = value.slice(0, end + 1);
  return header === "\x01[]\x01" ? "" : header;
}

/**
 * Expiry. KEYS: the key, its companion marker. ARGV: ttlMs (0 = none), the longest life
 * of a tagged entry. Returns `{1 | 0, header}` (1 when the key exists and now has the TTL;
 * the header of its tags, '' for none), or `{-1, header}` without changing anything when
 * the key holds a tagged entry and the TTL is 0 or longer than that life (it would outlive
 * its tag records). A getOrSet value's grace marker goes: the key now lives exactly this
 * long, without grace after it.
 */
export const EXPIRE: ScriptSource = defineScript(
  `${HEADER_LUA}local ttl = tonumber(ARGV[1])
local h = header(KEYS[1])
if h ~= '' and (ttl == 0 or ttl > tonumber(ARGV[2])) then return {-1, h} end
local r
if ttl > 0 then
  r = redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('PERSIST', KEYS[1])
  r = redis.call('EXISTS', KEYS[1])
end
if r == 1 then
  local m = redis.pcall('GET', KEYS[2])
  if type(m) == 'string' and string.sub(m, 1, 1) == 'g' then redis.call('DEL', KEYS[2]) end
end
return {r, h}`,
  2,
  (redis, keys, args) => {
    const ttl = Number(args[0]);
    const header = headerTwin(redis, keys[0]);
    if (header !== "" && (ttl === 0 || ttl > Number(args[1]))) return [-1, header];
    let result: number;
    if (ttl > 0) result = redis.call("PEXPIRE", keys[0], ttl) as number;
    else {
      redis.call("PERSIST", keys[0]);
      result = redis.call("EXISTS", keys[0]) as number;
    }
    if (result === 1) {
      let marker: unknown = null;
      try {
        marker = redis.call("GET", keys[1]);
      } catch { /* not a marker */ }
      if (typeof marker === "string" && marker.startsWith("g")) redis.call("DEL", keys[1]);
    }
    return [result, header];
  },
);

/**
 * Reads of keys of one slot that must tell tagged entries apart. KEYS: the keys. ARGV:
 * "e" (EXISTS) or "t" (PTTL). Returns per key its reply and its tag header ('' for none).
 */
export const PROBE: ScriptSource = defineScript(
  `${HEADER_LUA}local out = {}
for i, k in ipairs(KEYS) do
  local r
  if ARGV[1] == 't' then r = redis.call('PTTL', k) else r = redis.call('EXISTS', k) end
  out[2 * i - 1] = r
  if (ARGV[1] == 't' and r ~= -2) or (ARGV[1] == 'e' and r == 1) then out[2 * i] = header(k) else out[2 * i] = '' end
end
return out`,
  -1,
  (redis, keys, args) =>
    keys.flatMap((key) => {
      const reply = redis.call(args[0] === "t" ? "PTTL" : "EXISTS", key) as number;
      const present = args[0] === "t" ? reply !== -2 : reply === 1;
      return [reply, present ? headerTwin(redis, key) : ""];
    }),
);

/**
 * Deletes keys of one slot with their companions, atomically per key. KEYS: triples of a
 * key, its marker and its fill lock. Returns per key the DEL reply and the tag header of
 * what it deleted ('' for none).
 */
export const DELETE: ScriptSource = defineScript(
  `${HEADER_LUA}local out = {}
for i = 1, #KEYS, 3 do
  local h = header(KEYS[i])
  out[#out + 1] = redis.call('DEL', KEYS[i])
  out[#out + 1] = h
  redis.call('DEL', KEYS[i + 1], KEYS[i + 2])
end
return out`,
  -1,
  (redis, keys) => {
    const out: (number | string)[] = [];
    for (let i = 0; i < keys.length; i += 3) {
      const header = headerTwin(redis, keys[i]);
      out.push(redis.call("DEL", keys[i]) as number, header);
      redis.call("DEL", keys[i + 1], keys[i + 2]);
    }
    return out;
  },
);

/**
 * A conditional set (`ifAbsent` / `ifPresent`) that takes a tag-invalidated entry for a
 * missing one. KEYS: the key, its companion marker (deleted when it writes: a cached "not
 * found" or a grace marker ends with the value it replaces, and only then). ARGV: the value, "nx" or "xx", the TTL ("keep" for KEEPTTL,
 * 0 for none), the header of a tagged entry whose validity the caller knows, "1" if it is
 * valid ("0" if invalidated). Returns `{1}` when it wrote, `{0}` when the condition kept
 * it from writing, `{-1, header}` when the key holds a tagged entry the caller must check
 * first (then call again with its header and verdict).
 */
export const SET_IF: ScriptSource = defineScript(
  `${HEADER_LUA}local h = header(KEYS[1])
local present
if h ~= '' then
  if h ~= ARGV[4] then return {-1, h} end
  present = ARGV[5] == '1'
else
  present = redis.call('EXISTS', KEYS[1]) == 1
end
if (ARGV[2] == 'nx' and present) or (ARGV[2] == 'xx' and not present) then return {0} end
if ARGV[3] == 'keep' then
  if present then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') else redis.call('SET', KEYS[1], ARGV[1]) end
elseif tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('DEL', KEYS[2])
return {1}`,
  2,
  (redis, keys, args) => {
    const header = headerTwin(redis, keys[0]);
    let present: boolean;
    if (header !== "") {
      if (header !== args[3]) return [-1, header];
      present = args[4] === "1";
    } else present = redis.call("EXISTS", keys[0]) === 1;
    if ((args[1] === "nx" && present) || (args[1] === "xx" && !present)) return [0];
    if (args[2] === "keep") {
      if (present) redis.call("SET", keys[0], args[0], "KEEPTTL");
      else redis.call("SET", keys[0], args[0]);
    } else if (Number(args[2]) > 0) redis.call("SET", keys[0], args[0], "PX", args[2]);
    else redis.call("SET", keys[0], args[0]);
    redis.call("DEL", keys[1]);
    return [1];
  },
);

/**
 * getOrSet's read. KEYS: value, companion marker, fill lock. ARGV: token, lockTtlMs,
 * staleMs, graceMs (the reader's).
 *
 * The marker holds "1" for a cached "not found" (`n<tag pairs>` for a tagged one, see
 * `tags.ts`), or `g<ms>` beside a value stored with a
 * grace period of that length: such a value expired (logically) once its PTTL fell to
 * the grace period, so readers agree on its freshness whatever their own options. Writes
 * that give the key a new value (a plain set right behind itself, a conditional set that
 * writes in its script) delete the marker, so a value written by `set` is never mistaken
 * for one in grace; writes that may leave the value as it was (an increment, a script)
 * keep it.
 *
 * Returns `{state, value, ttl, locked, extra}`:
 * - 1 = value (ttl: its logical TTL left, -1 for none; locked = 1 when it is stale and
 *   this caller took the refresh lock; extra: the writer's grace period);
 * - 3 = a value that expired no more than the reader's graceMs ago (ttl: its PTTL, extra:
 *   the writer's grace period; locked = 1 when this caller took the fill lock, 2 when the
 *   loader backs off after a failure, 0 when another caller loads);
 * - 2 = cached "not found" (value: the marker, `1`, or `n` and the tag pairs of a tagged
 *   "not found"; ttl: its PTTL);
 * - 0 = miss (locked = 1 when this caller took the fill lock, else ttl is the holder's
 *   lock PTTL; extra = 1 when an expired value is still there, which the fill replaces).
 *
 * A miss takes over a back-off lock: backing off only ever serves a fallback.
 */
export const GET_OR_LOCK: ScriptSource = defineScript(
  `local v = redis.call('GET', KEYS[1])
local m = redis.call('GET', KEYS[2])
local expired = 0
if v then
  local pttl = redis.call('PTTL', KEYS[1])
  local grace = 0
  if m and string.sub(m, 1, 1) == 'g' then grace = tonumber(string.sub(m, 2)) or 0 end
  if pttl >= 0 and pttl <= grace then
    if grace - pttl <= tonumber(ARGV[4]) then
      local locked = 0
      if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then locked = 1
      elseif redis.call('GET', KEYS[3]) == 'backoff' then locked = 2 end
      return {3, v, pttl, locked, grace}
    end
    expired = 1
  else
    local left = pttl
    if pttl >= 0 then left = pttl - grace end
    local locked = 0
    if left >= 0 and left <= tonumber(ARGV[3]) and redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then locked = 1 end
    return {1, v, left, locked, grace}
  end
end
if expired == 0 and m and (m == '1' or string.sub(m, 1, 1) == 'n') then return {2, m, redis.call('PTTL', KEYS[2]), 0, 0} end
local holder = redis.call('GET', KEYS[3])
if not holder or holder == 'backoff' then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
  return {0, v or '', -2, 1, expired}
end
return {0, v or '', redis.call('PTTL', KEYS[3]), 0, expired}`,
  3,
  (redis, keys, args) => {
    const value = redis.call("GET", keys[0]) as string | null;
    const marker = redis.call("GET", keys[1]) as string | null;
    let expired = 0;
    if (value !== null) {
      const pttl = redis.call("PTTL", keys[0]) as number;
      const grace = marker?.startsWith("g") ? Number(marker.slice(1)) || 0 : 0;
      if (pttl >= 0 && pttl <= grace) {
        if (grace - pttl <= Number(args[3])) {
          let locked = 0;
          if (ok(redis.call("SET", keys[2], args[0], "NX", "PX", args[1]))) locked = 1;
          else if (redis.call("GET", keys[2]) === "backoff") locked = 2;
          return [3, value, pttl, locked, grace];
        }
        expired = 1;
      } else {
        const left = pttl >= 0 ? pttl - grace : pttl;
        const stale = left >= 0 && left <= Number(args[2]);
        const locked = stale && ok(redis.call("SET", keys[2], args[0], "NX", "PX", args[1]));
        return [1, value, left, locked ? 1 : 0, grace];
      }
    }
    if (expired === 0 && (marker === "1" || marker?.startsWith("n"))) {
      return [2, marker!, redis.call("PTTL", keys[1]), 0, 0];
    }
    const holder = redis.call("GET", keys[2]);
    if (holder === null || holder === "backoff") {
      redis.call("SET", keys[2], args[0], "PX", args[1]);
      return [0, value ?? "", -2, 1, expired];
    }
    return [0, value ?? "", redis.call("PTTL", keys[2]), 0, expired];
  },
);

/**
 * getOrSet's write, fenced. KEYS: value, companion marker, fill lock. ARGV: token, mode
 * ("v" store the value, "a" store "not found", "b" back off, "r" only release), data (of
 * "a": the marker of a tagged "not found", "" for the plain one),
 * ttlMs (0 = none; for "b" the back-off), events channel, events message, L1 channel ("" =
 * none), L1 message, expect ("0": the value must still be absent, "1": it must still equal
 * ARGV[10]), the expected (stale) value, graceMs (of "v": the marker `g<ms>` goes beside
 * the value, with its TTL).
 *
 * It stores only while `token` still holds the fill lock (a loader whose lock expired or
 * was taken over, or whose key was deleted meanwhile, holds an older truth) and only when
 * the value did not change since the loader started (a `set` in between wins). It always
 * releases its own lock ("b" turns it into a back-off lock instead: other callers serve
 * their fallback until it expires) and wakes the waiters (a wake-up the ACL refuses is
 * ignored, as in {@link LOCK_RELEASE}; the L1 invalidation is not: a reader's L1 would keep
 * the old value). Returns 1 when it stored.
 */
export const FILL: ScriptSource = defineScript(
  `local stored = 0
if redis.call('GET', KEYS[3]) == ARGV[1] then
  if ARGV[2] == 'b' and tonumber(ARGV[4]) > 0 then
    redis.call('SET', KEYS[3], 'backoff', 'PX', ARGV[4])
  else
    redis.call('DEL', KEYS[3])
  end
  local current = redis.call('GET', KEYS[1])
  local unchanged
  if ARGV[9] == '1' then unchanged = current == ARGV[10] else unchanged = not current end
  if unchanged and ARGV[2] == 'v' then
    local ttl = tonumber(ARGV[4])
    if ttl > 0 then redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[3]) end
    if ttl > 0 and tonumber(ARGV[11]) > 0 then
      redis.call('SET', KEYS[2], 'g' .. ARGV[11], 'PX', ttl)
    else
      redis.call('DEL', KEYS[2])
    end
    stored = 1
  elseif unchanged and ARGV[2] == 'a' then
    local marker = '1'
    if ARGV[3] ~= '' then marker = ARGV[3] end
    if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[2], marker, 'PX', ARGV[4]) else redis.call('DEL', KEYS[2]) end
    redis.call('DEL', KEYS[1])
    stored = 1
  end
end
redis.pcall('PUBLISH', ARGV[5], ARGV[6])
if stored == 1 and ARGV[7] ~= '' then redis.call('PUBLISH', ARGV[7], ARGV[8]) end
return stored`,
  3,
  (redis, keys, args) => {
    let stored = 0;
    if (redis.call("GET", keys[2]) === args[0]) {
      const ttl = Number(args[3]);
      if (args[1] === "b" && ttl > 0) redis.call("SET", keys[2], "backoff", "PX", ttl);
      else redis.call("DEL", keys[2]);
      const current = redis.call("GET", keys[0]);
      const unchanged = args[8] === "1" ? current === args[9] : current === null;
      if (unchanged && args[1] === "v") {
        if (ttl > 0) redis.call("SET", keys[0], args[2], "PX", ttl);
        else redis.call("SET", keys[0], args[2]);
        if (ttl > 0 && Number(args[10]) > 0) redis.call("SET", keys[1], `g${args[10]}`, "PX", ttl);
        else redis.call("DEL", keys[1]);
        stored = 1;
      } else if (unchanged && args[1] === "a") {
        if (ttl > 0) redis.call("SET", keys[1], args[2] === "" ? "1" : args[2], "PX", ttl);
        else redis.call("DEL", keys[1]);
        redis.call("DEL", keys[0]);
        stored = 1;
      }
    }
    wake(redis, args[4], args[5]);
    if (stored === 1 && args[6] !== "") redis.call("PUBLISH", args[6], args[7]);
    return stored;
  },
);

/**
 * getOrSet's lock for an entry a tag invalidated. KEYS: value, companion marker, fill lock.
 * ARGV: token, lockTtlMs, "v" (the entry is the value) or "n" (a tagged "not found": the
 * marker), the entry as read, "1" when the caller holds it as a fallback (it then serves it
 * while a loader backs off) or "0".
 *
 * Returns -1 when the entry changed since it was read (read again), 1 when this caller
 * took the fill lock (a back-off lock is taken over by a caller without a fallback), 2
 * when the loader backs off, 0 when another caller loads.
 */
export const TAG_LOCK: ScriptSource = defineScript(
  `local current
if ARGV[3] == 'v' then current = redis.call('GET', KEYS[1]) else current = redis.call('GET', KEYS[2]) end
if current ~= ARGV[4] then return -1 end
local holder = redis.call('GET', KEYS[3])
if not holder or (holder == 'backoff' and ARGV[5] == '0') then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == 'backoff' then return 2 end
return 0`,
  3,
  (redis, keys, args) => {
    const current = redis.call("GET", args[2] === "v" ? keys[0] : keys[1]);
    if (current !== args[3]) return -1;
    const holder = redis.call("GET", keys[2]);
    if (holder === null || (holder === "backoff" && args[4] === "0")) {
      redis.call("SET", keys[2], args[0], "PX", args[1]);
      return 1;
    }
    return holder === "backoff" ? 2 : 0;
  },
);

const BLOOM_META_CHECK = `local meta = redis.call('GET', KEYS[2])
if meta and meta ~= ARGV[1] then
  return redis.error_reply('CONFLICT bloom filter ' .. KEYS[1] .. ' has (bits:hashes) ' .. meta .. ', not ' .. ARGV[1])
end`;

function bloomMetaTwin(redis: ScriptContext, keys: string[], expected: string): string | null {
  const meta = redis.call("GET", keys[1]) as string | null;
  if (meta !== null && meta !== expected) {
    throw new Error(
      `CONFLICT bloom filter ${keys[0]} has (bits:hashes) ${meta}, not ${expected}`,
    );
  }
  return meta;
}

/**
 * Bloom add. KEYS: bitmap, meta. ARGV: "bits:hashes", k, ttlMs, then k bit positions per
 * item. Returns per item 1 when some bit was unset (the item is new).
 */
export const BLOOM_ADD: ScriptSource = defineScript(
  `${BLOOM_META_CHECK}
if not meta then redis.call('SET', KEYS[2], ARGV[1]) end
local k = tonumber(ARGV[2])
local result = {}
for i = 0, (#ARGV - 3) / k - 1 do
  local new = 0
  for j = 1, k do
    if redis.call('SETBIT', KEYS[1], ARGV[3 + i * k + j], 1) == 0 then new = 1 end
  end
  result[i + 1] = new
end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return result`,
  2,
  (redis, keys, args) => {
    if (bloomMetaTwin(redis, keys, args[0]) === null) redis.call("SET", keys[1], args[0]);
    const k = Number(args[1]);
    const result: number[] = [];
    for (let i = 0; i < (args.length - 3) / k; i++) {
      let fresh = 0;
      for (let j = 0; j < k; j++) {
        if (redis.call("SETBIT", keys[0], args[3 + i * k + j], 1) === 0) fresh = 1;
      }
      result.push(fresh);
    }
    const ttl = Number(args[2]);
    if (ttl > 0) {
      redis.call("PEXPIRE", keys[0], ttl);
      redis.call("PEXPIRE", keys[1], ttl);
    }
    return result;
  },
);

/** Bloom test. KEYS: bitmap, meta. ARGV: "bits:hashes", k, then k positions per item. */
export const BLOOM_HAS: ScriptSource = defineScript(
  `${BLOOM_META_CHECK}
local k = tonumber(ARGV[2])
local result = {}
for i = 0, (#ARGV - 2) / k - 1 do
  local found = 1
  for j = 1, k do
    if redis.call('GETBIT', KEYS[1], ARGV[2 + i * k + j]) == 0 then
      found = 0
      break
    end
  end
  result[i + 1] = found
end
return result`,
  2,
  (redis, keys, args) => {
    bloomMetaTwin(redis, keys, args[0]);
    const k = Number(args[1]);
    const result: number[] = [];
    for (let i = 0; i < (args.length - 2) / k; i++) {
      let found = 1;
      for (let j = 0; j < k; j++) {
        if (redis.call("GETBIT", keys[0], args[2 + i * k + j]) === 0) {
          found = 0;
          break;
        }
      }
      result.push(found);
    }
    return result;
  },
);
