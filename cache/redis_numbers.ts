/**
 * Numbers as Redis reads and writes them, for the memory driver to answer as Redis does:
 *
 * - integers (`INCR`, `INCRBY`, `HINCRBY`, arguments): `string2ll`: an optional `-`, then
 *   `0` alone or digits without a leading zero, within 64 bits (`"007"`, `"-0"`, `"+5"`,
 *   `" 5"` are not integers);
 * - long doubles (`INCRBYFLOAT`, `HINCRBYFLOAT`): `strtold` (decimal, hexadecimal such as
 *   `0x10` or `0x1p-3`, `inf`/`infinity`; no leading space, nothing after the number, no
 *   NaN, no overflow) computed in x86-64's 80-bit extended precision (64-bit significand,
 *   rounded to nearest, ties to even) and written as `%.17Lf` without trailing zeros
 *   (`1000000000000000000000`, `1000.19999999999999996`);
 * - doubles (sorted-set scores): `strtod` alike, written as `%.17g`
 *   (`0.10000000000000001`, `1e+20`), integers below 2^52 as integers; range bounds after
 *   `(` are read by plain `strtod` (leading space, empty text, out-of-range values pass);
 * - integer replies as ioredis's parser reads them (beyond 2^53 they round alike).
 *
 * Not reproduced: the subnormal range of long doubles (values below about 3.4e-4932 are
 * taken as zero, so refused like Redis's underflow) and Redis's 5,120-character limit on a
 * formatted long double. On a server whose `long double` is not x87's 80 bits (aarch64 has
 * 128), Redis's own digits differ from these in the last places.
 *
 * @module
 */

/** A finite long double: (−1)^negative · significand · 2^exponent (significand 0 = zero). */
export interface LongDouble {
  readonly negative: boolean;
  readonly significand: bigint;
  readonly exponent: number;
}

/** A long double or an infinity. */
export type Extended = LongDouble | number;

const INTEGER = /^(0|-?[1-9][0-9]*)$/;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** `string2ll`: the integer `text` is, or `undefined` when Redis would refuse it. */
export function parseRedisInteger(text: string): bigint | undefined {
  if (text.length > 20 || !INTEGER.test(text)) return undefined;
  const value = BigInt(text);
  return value > INT64_MAX || value < INT64_MIN ? undefined : value;
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const HEX = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?$/;
const INFINITY = /^([+-]?)(inf|infinity)$/i;

/** A rational n / d · 2^e parsed from text, before rounding. */
interface Exact {
  negative: boolean;
  numerator: bigint;
  denominator: bigint;
  exponent: number;
}

/** A binary exponent beyond every long double, either way. */
const CLAMP = 20_000;

/**
 * `strtold`/`strtod` syntax: the exact value of `text` (or, far out of range, one as far
 * out), ±Infinity, or `undefined` when it is not a number's text at all.
 */
function parseExact(text: string): Exact | number | undefined {
  if (text.length === 0 || text.length >= 5_120) return undefined;
  const infinity = INFINITY.exec(text);
  if (infinity) return infinity[1] === "-" ? -Infinity : Infinity;
  const hex = HEX.exec(text);
  if (hex) {
    const [, sign, whole, fraction = "", power = "0"] = hex;
    if (whole.length + fraction.length === 0) return undefined;
    const numerator = BigInt(`0x${whole}${fraction}`);
    const exponent = Number(power) - 4 * fraction.length;
    return {
      negative: sign === "-",
      numerator,
      denominator: 1n,
      exponent: Math.max(-CLAMP, Math.min(CLAMP, exponent)),
    };
  }
  const decimal = DECIMAL.exec(text);
  if (!decimal) return undefined;
  const [, sign, whole, fraction = "", power = "0"] = decimal;
  if (whole.length + fraction.length === 0) return undefined;
  const digits = (whole + fraction).replace(/^0+/, "");
  const scale = Number(power) - fraction.length;
  const negative = sign === "-";
  if (digits === "") return { negative, numerator: 0n, denominator: 1n, exponent: 0 };
  // Far beyond any long double: a stand-in as far out (it overflows or underflows alike)
  // instead of a power of ten with tens of thousands of digits.
  const magnitude = digits.length + scale;
  if (magnitude > 5_000) return { negative, numerator: 1n, denominator: 1n, exponent: CLAMP };
  if (magnitude < -5_000) return { negative, numerator: 1n, denominator: 1n, exponent: -CLAMP };
  const n = BigInt(digits);
  return scale >= 0
    ? { negative, numerator: n * 10n ** BigInt(scale), denominator: 1n, exponent: 0 }
    : { negative, numerator: n, denominator: 10n ** BigInt(-scale), exponent: 0 };
}

function bitLength(value: bigint): number {
  return value === 0n ? 0 : value.toString(2).length;
}

/** n / d · 2^e rounded to `bits` significant bits, ties to even. */
function round(exact: Exact, bits: number): LongDouble {
  const { negative, numerator, denominator } = exact;
  if (numerator === 0n) return { negative, significand: 0n, exponent: 0 };
  // Shift so that the quotient has exactly `bits` bits.
  let shift = bitLength(numerator) - bitLength(denominator) - bits;
  for (;;) {
    const n = shift < 0 ? numerator << BigInt(-shift) : numerator;
    const d = shift > 0 ? denominator << BigInt(shift) : denominator;
    let q = n / d;
    if (bitLength(q) > bits) {
      shift++;
      continue;
    }
    if (bitLength(q) < bits) {
      shift--;
      continue;
    }
    const twice = (n - q * d) * 2n;
    if (twice > d || (twice === d && (q & 1n) === 1n)) q++;
    if (bitLength(q) > bits) {
      return { negative, significand: q >> 1n, exponent: exact.exponent + shift + 1 };
    }
    return { negative, significand: q, exponent: exact.exponent + shift };
  }
}

const LONG_DOUBLE_BITS = 64;
// x87: the largest finite value is just below 2^16384, the smallest normal 2^-16382.
const LONG_DOUBLE_MAX_EXPONENT = 16384 - LONG_DOUBLE_BITS;
const LONG_DOUBLE_MIN_EXPONENT = -16382 - LONG_DOUBLE_BITS + 1;

function checkRange(value: LongDouble): Extended | undefined {
  if (value.significand === 0n) return value;
  if (value.exponent > LONG_DOUBLE_MAX_EXPONENT) return value.negative ? -Infinity : Infinity;
  if (value.exponent < LONG_DOUBLE_MIN_EXPONENT) return undefined;
  return value;
}

/** `string2ld`: the long double `text` is, or `undefined` when Redis would refuse it. */
export function parseLongDouble(text: string): Extended | undefined {
  const exact = parseExact(text);
  if (exact === undefined || typeof exact === "number") return exact;
  const value = checkRange(round(exact, LONG_DOUBLE_BITS));
  // An overflow is ERANGE with HUGE_VAL, an underflow ERANGE with zero: both refused.
  if (value === undefined || typeof value === "number") return undefined;
  if (value.significand === 0n && exact.numerator !== 0n) return undefined;
  return value;
}

/** a + b in long double precision (±Infinity when it overflows, NaN for ∞ − ∞). */
export function addLongDouble(a: Extended, b: Extended): Extended {
  if (typeof a === "number" || typeof b === "number") {
    return (typeof a === "number" ? a : 0) + (typeof b === "number" ? b : 0);
  }
  const exponent = Math.min(a.exponent, b.exponent);
  const signed = (x: LongDouble) =>
    (x.negative ? -x.significand : x.significand) << BigInt(x.exponent - exponent);
  const sum = signed(a) + signed(b);
  const negative = sum < 0n || (sum === 0n && a.negative && b.negative);
  const rounded = round(
    { negative, numerator: sum < 0n ? -sum : sum, denominator: 1n, exponent },
    LONG_DOUBLE_BITS,
  );
  return checkRange(rounded) ?? { negative, significand: 0n, exponent: 0 };
}

/** value · 10^digits rounded to an integer, ties to even (printf's rounding). */
function scaledInteger(value: LongDouble, digits: number): bigint {
  const ten = 10n ** BigInt(digits);
  if (value.exponent >= 0) return (value.significand << BigInt(value.exponent)) * ten;
  const n = value.significand * ten;
  const d = 1n << BigInt(-value.exponent);
  let q = n / d;
  const twice = (n - q * d) * 2n;
  if (twice > d || (twice === d && (q & 1n) === 1n)) q++;
  return q;
}

/** `ld2string(..., LD_STR_HUMAN)`: `%.17Lf` without trailing zeros, `inf`, `-inf`. */
export function formatLongDouble(value: Extended): string {
  if (typeof value === "number") return value > 0 ? "inf" : "-inf";
  const digits = scaledInteger(value, 17).toString().padStart(18, "0");
  const text = (value.negative ? "-" : "") +
    withoutTrailingZeros(`${digits.slice(0, -17)}.${digits.slice(-17)}`);
  return text === "-0" ? "0" : text;
}

/**
 * `string2d` (scores): the double `text` is, or `undefined` when Redis would refuse it
 * (also an overflow, or an underflow to zero).
 */
export function parseRedisDouble(text: string): number | undefined {
  const parsed = strtod(text);
  if (parsed === undefined) return undefined;
  const { value, exact } = parsed;
  if (exact !== undefined && (!Number.isFinite(value) || (value === 0 && exact.numerator !== 0n))) {
    return undefined;
  }
  return value;
}

/**
 * A score range bound after its `(` (`zslParseRange`): plain `strtod`, which skips leading
 * white space, reads an empty text as 0, and lets an overflow be ±Infinity and an
 * underflow 0.
 */
export function parseRedisBound(text: string): number | undefined {
  const trimmed = text.replace(/^[ \t\n\v\f\r]+/, "");
  return trimmed === "" ? 0 : strtod(trimmed)?.value;
}

/** `strtod` of a whole text: the double, and the exact value it was rounded from. */
function strtod(text: string): { value: number; exact?: Exact } | undefined {
  const exact = parseExact(text);
  if (exact === undefined || typeof exact === "number") {
    return exact === undefined ? undefined : { value: exact };
  }
  const value = HEX.test(text) || Math.abs(exact.exponent) === CLAMP
    ? toDouble(round(exact, 53))
    : Number(text);
  return { value, exact };
}

function toDouble(value: LongDouble): number {
  // Two steps: 2 ** exponent alone may overflow or underflow where the product does not.
  const half = Math.trunc(value.exponent / 2);
  const magnitude = Number(value.significand) * 2 ** half * 2 ** (value.exponent - half);
  return value.negative ? -magnitude : magnitude;
}

/**
 * An integer reply as ioredis's parser reads it: digit by digit in doubles, so beyond 2^53
 * it rounds as the Redis driver's replies do.
 */
export function integerReply(value: bigint): number {
  const digits = (value < 0n ? -value : value).toString();
  let number = 0;
  // The same operations in the same order as ioredis's decoder: (n·10 + byte) − 48.
  for (let i = 0; i < digits.length; i++) number = number * 10 + digits.charCodeAt(i) - 48;
  return value < 0n ? -number : number;
}

const float64 = new Float64Array(1);
const bits64 = new BigUint64Array(float64.buffer);

/** The exact value of a finite double. */
function exactDouble(value: number): LongDouble {
  float64[0] = value;
  const bits = bits64[0];
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  const negative = bits >> 63n === 1n;
  return biased === 0
    ? { negative, significand: fraction, exponent: -1074 }
    : { negative, significand: fraction | (1n << 52n), exponent: biased - 1075 };
}

/**
 * `d2string`/`addReplyDouble`: integers in (−2^52, 2^52) as integers, `inf`, `-inf`,
 * anything else as `%.17g`.
 */
export function formatRedisDouble(value: number): string {
  if (value === Infinity) return "inf";
  if (value === -Infinity) return "-inf";
  // A score of -0 comes back as 0 from Redis (its listpack keeps it as the integer 0).
  if (value === 0) return "0";
  if (Number.isInteger(value) && Math.abs(value) < 2 ** 52) return String(value);
  const exact = exactDouble(value);
  // 17 significant digits: the decimal exponent (Math.log10 may be one off next to a power
  // of ten), then exact rounding; a carry to 18 digits moves the exponent up.
  let exponent = Math.floor(Math.log10(Math.abs(value)));
  let digits = significantDigits(exact, 16 - exponent);
  for (let i = 0; i < 3 && digits.length !== 17; i++) {
    exponent += digits.length > 17 ? 1 : -1;
    digits = significantDigits(exact, 16 - exponent);
  }
  const sign = exact.negative ? "-" : "";
  if (exponent < -4 || exponent >= 17) {
    const mantissa = withoutTrailingZeros(`${digits[0]}.${digits.slice(1)}`);
    const power = Math.abs(exponent).toString().padStart(2, "0");
    return `${sign}${mantissa}e${exponent < 0 ? "-" : "+"}${power}`;
  }
  const point = exponent + 1;
  const text = point <= 0
    ? `0.${"0".repeat(-point)}${digits}`
    : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return sign + withoutTrailingZeros(text);
}

/** `1.2500` → `1.25`, `3.000` → `3`, `12.` → `12` (text with a decimal point). */
function withoutTrailingZeros(text: string): string {
  return text.replace(/0+$/, "").replace(/\.$/, "");
}

/** |value| · 10^shift rounded to an integer, ties to even, as digits. */
function significantDigits(value: LongDouble, shift: number): string {
  const magnitude = { ...value, negative: false };
  if (shift >= 0) return scaledInteger(magnitude, shift).toString();
  // Dividing by a power of ten: scale the binary part instead.
  const ten = 10n ** BigInt(-shift);
  const n = value.exponent >= 0 ? value.significand << BigInt(value.exponent) : value.significand;
  const d = value.exponent >= 0 ? ten : ten << BigInt(-value.exponent);
  let q = n / d;
  const twice = (n - q * d) * 2n;
  if (twice > d || (twice === d && (q & 1n) === 1n)) q++;
  return q.toString();
}
