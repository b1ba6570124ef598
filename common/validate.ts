// Runtime checks for messages that cross a process or webview boundary, as small combinators:
// `object({chatId: string(128, 1), maxTokens: optional(int(1, 4096))})` is a Schema that returns the
// typed value or a message saying what is wrong. Pure; used by the server, the extension host and the
// webviews (common/ is bundled into each).

export type Checked<T> = { ok: true; value: T } | Failure;
/**
 * Why a value was refused: `at` is the path inside it (".field", "[3]"); `message` says what that
 * part must be, or, when `final` (set by withMessage), is the whole text to show.
 */
export interface Failure {
  ok: false;
  message: string;
  at?: string;
  final?: true;
}
/** Checks an unknown value. */
export type Schema<T> = (value: unknown) => Checked<T>;
export type Infer<S> = S extends Schema<infer T> ? T : never;

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const fail = (message: string, at?: string, final?: true): Failure => ({
  ok: false,
  message,
  ...(at === undefined ? {} : { at }),
  ...(final ? { final } : {}),
});

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isString(value: unknown, maxLength = Number.POSITIVE_INFINITY): value is string {
  return typeof value === "string" && value.length <= maxLength;
}

export function isInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

export function isFiniteIn(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= min && value <= max;
}

/** A string of `min..max` characters. */
export function string(max = Number.POSITIVE_INFINITY, min = 0): Schema<string> {
  return (value) =>
    isString(value, max) && value.length >= min ? ok(value) : fail(`must be a string of ${min}..${max} characters`);
}

/** An integer in `min..max`. */
export function int(min: number, max: number): Schema<number> {
  return (value) => (isInteger(value, min, max) ? ok(value) : fail(`must be an integer in ${min}..${max}`));
}

/** A finite number in `min..max`. */
export function number(min: number, max: number): Schema<number> {
  return (value) => (isFiniteIn(value, min, max) ? ok(value) : fail(`must be a number in ${min}..${max}`));
}

export const boolean: Schema<boolean> = (value) => (typeof value === "boolean" ? ok(value) : fail("must be true or false"));

/** One of the given strings. */
export function oneOf<const T extends string>(...values: T[]): Schema<T> {
  return (value) =>
    typeof value === "string" && (values as string[]).includes(value) ? ok(value as T) : fail(`must be one of ${values.join(", ")}`);
}

/** `undefined` (an absent field) or a value of `schema`. */
export function optional<T>(schema: Schema<T>): Schema<T | undefined> {
  return (value) => (value === undefined ? ok(undefined) : schema(value));
}

/** An array of at most `max` items, each of `item` (the first bad one is named by its index). */
export function array<T>(item: Schema<T>, max = Number.POSITIVE_INFINITY): Schema<T[]> {
  return (value) => {
    if (!Array.isArray(value) || value.length > max) return fail(`must be an array of at most ${max} items`);
    for (let index = 0; index < value.length; index++) {
      const checked = item(value[index]);
      if (!checked.ok) return fail(checked.message, `[${index}]${checked.at ?? ""}`, checked.final);
    }
    return ok(value as T[]);
  };
}

type Shape = Record<string, Schema<unknown>>;
type Optional<S extends Shape> = { [K in keyof S]: undefined extends Infer<S[K]> ? K : never }[keyof S];
export type ObjectOf<S extends Shape> = { [K in Exclude<keyof S, Optional<S>>]: Infer<S[K]> } & { [K in Optional<S>]?: Infer<S[K]> };

/**
 * An object with these fields, checked in order; the value holds only them (absent optional
 * fields stay absent). The first bad field is named: "chatId must be …", at ".chatId".
 */
export function object<S extends Shape>(shape: S): Schema<ObjectOf<S>> {
  return (value) => {
    if (!isRecord(value)) return fail("must be an object");
    const result: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(shape)) {
      const checked = schema(value[key]);
      if (!checked.ok) return fail(checked.message, `.${key}${checked.at ?? ""}`, checked.final);
      if (checked.value !== undefined) result[key] = checked.value;
    }
    return ok(result as ObjectOf<S>);
  };
}

/** `schema`, and then `test` on its value (failing with `message`). */
export function refine<T>(schema: Schema<T>, test: (value: T) => boolean, message: string): Schema<T> {
  return (value) => {
    const checked = schema(value);
    return !checked.ok || test(checked.value) ? checked : fail(message);
  };
}

/** `schema` with its failure message replaced (a fixed text, or one made from the failure): final. */
export function withMessage<T>(schema: Schema<T>, message: string | ((failure: Failure) => string)): Schema<T> {
  return (value) => {
    const checked = schema(value);
    if (checked.ok) return checked;
    return fail(typeof message === "string" ? message : message(checked), checked.at, true);
  };
}

/** The text of a failure: "items[1].on must be true or false" (a final message as it is). */
export function failureText(failure: Failure): string {
  if (failure.final || failure.at === undefined) return failure.message;
  return `${failure.at.replace(/^\./, "")} ${failure.message}`;
}

/** The value, or the failure's text with `prefix` (e.g. the method name). */
export function check<T>(schema: Schema<T>, value: unknown, prefix = ""): { ok: true; value: T } | { ok: false; message: string } {
  const checked = schema(value);
  return checked.ok ? checked : { ok: false, message: `${prefix}${failureText(checked)}` };
}

/**
 * A message `{type, ...fields}` whose fields depend on its type: `cases[type]` checks the rest
 * (unknown types are refused). The value is `{type, ...checked fields}`.
 */
export function tagged<C extends Record<string, Schema<object>>>(
  cases: C,
): Schema<{ [T in keyof C & string]: { type: T } & Infer<C[T]> }[keyof C & string]> {
  return (value) => {
    if (!isRecord(value) || typeof value.type !== "string" || !Object.hasOwn(cases, value.type)) {
      return fail(`type must be one of ${Object.keys(cases).join(", ")}`);
    }
    const checked = cases[value.type]!(value);
    return checked.ok ? ok({ type: value.type, ...checked.value } as never) : checked;
  };
}

/** The value, or undefined when it does not pass (messages that are dropped without an answer). */
export function parse<T>(schema: Schema<T>, value: unknown): T | undefined {
  const checked = schema(value);
  return checked.ok ? checked.value : undefined;
}
