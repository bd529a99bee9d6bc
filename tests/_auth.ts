/**
 * Credentials for authenticating test servers, made at test time in fresh temp directories that
 * are removed on dispose:
 * - {@linkcode makeSaslDb}: a Cyrus SASL password database and `memcached.conf` for memcached
 *   `-S` (binary protocol SASL, mechanism PLAIN), found through `SASL_CONF_PATH`.
 * - {@linkcode makeAuthFile}: a `user:password` file for memcached `-Y` (ASCII protocol auth).
 *
 * @example Start a SASL server
 * ```ts ignore
 * import { test } from "./_harness.ts";
 * import { makeSaslDb } from "./_auth.ts";
 * import { startMemcached } from "./_memcached.ts";
 *
 * test("memcached runs with SASL", async () => {
 *   await using sasl = await makeSaslDb("mica", "s3cret");
 *   await using server = await startMemcached({ args: ["-S"], env: sasl.env });
 * });
 * ```
 *
 * @module
 */

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Path of saslpasswd2 (Debian package `sasl2-bin`). */
export const SASLPASSWD2_BIN = "/usr/sbin/saslpasswd2";

/** A SASL configuration made by {@linkcode makeSaslDb}. */
export interface SaslDb extends AsyncDisposable {
  /** The temp directory holding `memcached.conf` and the database. */
  readonly dir: string;
  /** Path of the sasldb file. */
  readonly dbFile: string;
  /** Environment for memcached: `{ SASL_CONF_PATH: dir }`. */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Creates a sasldb holding one user (realm-less, application `memcached`) with
 * `saslpasswd2 -p -a memcached -c -f <db> <user>`, the password given on stdin, and a
 * `memcached.conf` with `mech_list: plain` and `sasldb_path: <db>`.
 *
 * @param user The user name.
 * @param password The password (no newline).
 * @returns The configuration; pass `env` to `startMemcached` and dispose of it afterwards.
 * @throws {Error} If saslpasswd2 fails.
 */
export async function makeSaslDb(user: string, password: string): Promise<SaslDb> {
  if (/[\r\n]/.test(password)) {
    throw new RangeError("Cannot make a sasldb: password holds a newline");
  }
  const dir = mkdtempSync(join(tmpdir(), "mica-sasl-"));
  const dispose = () => {
    rmSync(dir, { recursive: true, force: true });
    return Promise.resolve();
  };
  try {
    const dbFile = join(dir, "sasldb2");
    await run(SASLPASSWD2_BIN, ["-p", "-a", "memcached", "-c", "-f", dbFile, user], password);
    writeFileSync(join(dir, "memcached.conf"), `mech_list: plain\nsasldb_path: ${dbFile}\n`);
    return { dir, dbFile, env: { SASL_CONF_PATH: dir }, [Symbol.asyncDispose]: dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** An ASCII auth file made by {@linkcode makeAuthFile}. */
export interface AuthFile extends AsyncDisposable {
  /** Path of the file: pass it to memcached as `-Y <path>`. */
  readonly path: string;
}

/**
 * Writes memcached's `-Y` auth file: one `user:password` line per entry.
 *
 * @param entries User names and passwords. A user may not hold `:`, and neither may hold
 * whitespace: memcached reads the auth token `<user> <password>` split at a space, and a
 * password with a space never matched in our tests.
 * @returns The file; dispose of it to remove its temp directory.
 * @throws {RangeError} If an entry cannot be written in the file's format.
 */
export function makeAuthFile(
  entries: readonly { user: string; password: string }[],
): Promise<AuthFile> {
  for (const { user, password } of entries) {
    if (user.includes(":") || /\s/.test(user + password)) {
      throw new RangeError(`Cannot write auth file entry for ${JSON.stringify(user)}`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), "mica-auth-"));
  const path = join(dir, "auth");
  writeFileSync(path, entries.map(({ user, password }) => `${user}:${password}\n`).join(""));
  return Promise.resolve({
    path,
    [Symbol.asyncDispose]: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
}

/** Runs `bin` with `args`, writing `input` to its stdin; rejects with its stderr on failure. */
function run(bin: string, args: readonly string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else {
        reject(
          new Error(`Cannot run ${bin} ${args.join(" ")}: ${String(stderr).trim()}`, {
            cause: error,
          }),
        );
      }
    });
    child.stdin?.end(input);
  });
}
