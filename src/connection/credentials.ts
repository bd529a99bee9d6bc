/**
 * Credentials for SASL (binary protocol) and ASCII authentication (text and meta protocols).
 * The password never leaves this object except into the bytes of an authentication request:
 * `toString()`, `JSON.stringify()` and the runtimes' inspection (`console.log`, `Deno.inspect`,
 * `Bun.inspect`) all show it redacted.
 *
 * @module
 */

import { MemcachedError } from "../errors.ts";

const REDACTED = "[redacted]";

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * A user name and password. Build one with {@linkcode Credentials.from} or pass `username` and
 * `password` to `connect`, or write them in an address (`"user:pass@host:port"`).
 *
 * @example Credentials never print
 * ```ts
 * import { Credentials } from "@mica/memcached";
 *
 * const credentials = Credentials.from("app", "s3cret");
 * console.log(String(credentials)); // "Credentials(app, [redacted])"
 * console.log(JSON.stringify({ credentials })); // {"credentials":"Credentials(app, [redacted])"}
 * ```
 */
export class Credentials {
  readonly #username: string;
  readonly #password: string;

  private constructor(username: string, password: string) {
    this.#username = username;
    this.#password = password;
  }

  /**
   * Checks and wraps a user name and password.
   *
   * @param username The user name: 1 to 255 bytes with no space or control character (ASCII
   * auth sends `"<user> <password>"`, so a space would split it wrongly).
   * @param password The password: no control character; spaces are allowed.
   * @returns The credentials.
   * @throws {MemcachedError} `INVALID_ARGUMENT` for a bad user name or password (the message
   * never shows the password).
   *
   * @example
   * ```ts
   * import { Credentials } from "@mica/memcached";
   *
   * console.log(Credentials.from("app", "pw").username); // "app"
   * ```
   */
  static from(username: string, password: string): Credentials {
    if (
      typeof username !== "string" || username.length === 0 || username.length > 255 ||
      hasControl(username) || /\s/.test(username)
    ) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        "Cannot use credentials: the user name must be 1 to 255 characters with no space or " +
          "control character",
      );
    }
    if (typeof password !== "string" || hasControl(password)) {
      throw new MemcachedError(
        "INVALID_ARGUMENT",
        "Cannot use credentials: the password must be a string with no control character",
      );
    }
    return new Credentials(username, password);
  }

  /** The user name (not secret). */
  get username(): string {
    return this.#username;
  }

  /**
   * Hands the password to `use`, for building an authentication request.
   *
   * @param use Receives the user name and password.
   * @returns What `use` returns.
   *
   * @example
   * ```ts
   * import { Credentials } from "@mica/memcached";
   *
   * const length = Credentials.from("app", "pw").reveal((_user, password) => password.length);
   * console.log(length); // 2
   * ```
   */
  reveal<T>(use: (username: string, password: string) => T): T {
    return use(this.#username, this.#password);
  }

  /** `Credentials(<user>, [redacted])`. */
  toString(): string {
    return `Credentials(${this.#username}, ${REDACTED})`;
  }

  /** The same as {@linkcode Credentials.toString}. */
  toJSON(): string {
    return this.toString();
  }

  /** Deno's inspection. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** Node's and Bun's inspection. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}
