/**
 * Test certificates made with `openssl` at test time, in a fresh temp directory that is removed
 * on dispose. Nothing is checked in, so no certificate in the repository can expire.
 *
 * Every key is EC P-256 (fast to generate). Leaf certificates are signed with `openssl ca`,
 * which, unlike `openssl x509` in OpenSSL 3.0, can set any validity window, so an already
 * expired certificate is possible.
 *
 * @example Start a TLS memcached with the valid server certificate
 * ```ts ignore
 * import { test } from "./_harness.ts";
 * import { startMemcached } from "./_memcached.ts";
 * import { makeCertificates, serving } from "./_tls.ts";
 *
 * test("memcached serves TLS", async () => {
 *   await using certs = await makeCertificates();
 *   await using server = await startMemcached({ tls: serving(certs.server) });
 * });
 * ```
 *
 * @module
 */

import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MemcachedTlsOptions } from "./_memcached.ts";

/** Path of the openssl binary (Debian package `openssl`). */
export const OPENSSL_BIN = "/usr/bin/openssl";

/** A certificate and its private key, as PEM text and as files. */
export interface KeyPair {
  /** The PEM certificate. */
  readonly cert: string;
  /** The PEM private key (PKCS#8, unencrypted). */
  readonly key: string;
  /** Path of the certificate file. */
  readonly certFile: string;
  /** Path of the key file. */
  readonly keyFile: string;
}

/** Everything {@linkcode makeCertificates} creates. */
export interface CertificateSet {
  /** The temp directory holding every file. */
  readonly dir: string;
  /** The trusted test CA (self-signed). */
  readonly ca: KeyPair;
  /** Server certificate signed by {@linkcode ca} for `DNS:localhost` and `IP:127.0.0.1`. */
  readonly server: KeyPair;
  /** Server certificate signed by {@linkcode ca} for `DNS:wrong.example` only. */
  readonly wrongName: KeyPair;
  /** Server certificate signed by {@linkcode ca} for localhost, valid only in January 2020. */
  readonly expired: KeyPair;
  /** Client certificate (`CN=mica-client`, clientAuth) signed by {@linkcode ca}. */
  readonly client: KeyPair;
  /** A second CA that nobody trusts. */
  readonly unknownCa: KeyPair;
  /** Server certificate for localhost and 127.0.0.1 signed by {@linkcode unknownCa}. */
  readonly unknownCaServer: KeyPair;
  /**
   * Server certificate signed by {@linkcode ca} without extensions, so X.509 version 1 (no
   * subjectAltName): rustls refuses it as `UnsupportedCertVersion`, OpenSSL as not naming the
   * server.
   */
  readonly version1: KeyPair;
}

const CONFIG = `
[req]
distinguished_name = dn
[dn]
[ca]
default_ca = test_ca
[test_ca]
dir = DIR
database = DIR/index.txt
new_certs_dir = DIR/issued
serial = DIR/serial
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none
[any_name]
commonName = supplied
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
[wrong_name_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

/**
 * Creates the test CA, a second untrusted CA and the leaf certificates of
 * {@linkcode CertificateSet} with `openssl`, in a fresh temp directory.
 *
 * @returns The certificates; dispose of them (`await using`) to remove the directory.
 * @throws {Error} If an openssl command fails (its stderr is in the message).
 */
export async function makeCertificates(): Promise<CertificateSet & AsyncDisposable> {
  const dir = mkdtempSync(join(tmpdir(), "mica-tls-"));
  const dispose = () => {
    rmSync(dir, { recursive: true, force: true });
    return Promise.resolve();
  };
  try {
    const config = join(dir, "openssl.cnf");
    writeFileSync(config, CONFIG.replaceAll("DIR", dir));
    writeFileSync(join(dir, "index.txt"), "");
    writeFileSync(join(dir, "serial"), "1000\n");
    await openssl(["req", "-x509", "-new", ...newKey(dir, "ca"), "-subj", "/CN=Mica Test CA"], {
      config,
      dir,
      extra: ["-extensions", "ca_ext", "-days", "2", "-out", join(dir, "ca.pem")],
    });
    await openssl(
      ["req", "-x509", "-new", ...newKey(dir, "unknown-ca"), "-subj", "/CN=Unknown CA"],
      {
        config,
        dir,
        extra: ["-extensions", "ca_ext", "-days", "2", "-out", join(dir, "unknown-ca.pem")],
      },
    );
    // Keys and requests in parallel; `openssl ca` updates one database, so it runs in turn.
    const leaves = [
      { name: "server", cn: "localhost", ca: "ca", ext: "server_ext", dates: DAYS },
      { name: "wrong-name", cn: "wrong.example", ca: "ca", ext: "wrong_name_ext", dates: DAYS },
      { name: "expired", cn: "localhost", ca: "ca", ext: "server_ext", dates: EXPIRED },
      { name: "client", cn: "mica-client", ca: "ca", ext: "client_ext", dates: DAYS },
      {
        name: "unknown-ca-server",
        cn: "localhost",
        ca: "unknown-ca",
        ext: "server_ext",
        dates: DAYS,
      },
      { name: "version1", cn: "localhost", ca: "ca", ext: undefined, dates: DAYS },
    ];
    await Promise.all(
      leaves.map(({ name, cn }) =>
        openssl(["req", "-new", ...newKey(dir, name), "-subj", `/CN=${cn}`], {
          config,
          dir,
          extra: ["-out", join(dir, `${name}.csr`)],
        })
      ),
    );
    // `openssl ca` also keeps a copy of every certificate it issues in new_certs_dir.
    mkdirSync(join(dir, "issued"));
    for (const { name, ca, ext, dates } of leaves) {
      await openssl([
        "ca",
        "-batch",
        "-notext",
        "-config",
        config,
        "-cert",
        join(dir, `${ca}.pem`),
        "-keyfile",
        join(dir, `${ca}.key`),
        "-in",
        join(dir, `${name}.csr`),
        "-out",
        join(dir, `${name}.pem`),
        // No extensions section makes a version 1 certificate.
        ...(ext === undefined ? [] : ["-extensions", ext]),
        ...dates,
      ], { dir });
    }
    const pair = (name: string): KeyPair => {
      const certFile = join(dir, `${name}.pem`);
      const keyFile = join(dir, `${name}.key`);
      return {
        cert: readFileSync(certFile, "utf8"),
        key: readFileSync(keyFile, "utf8"),
        certFile,
        keyFile,
      };
    };
    return {
      dir,
      ca: pair("ca"),
      server: pair("server"),
      wrongName: pair("wrong-name"),
      expired: pair("expired"),
      client: pair("client"),
      unknownCa: pair("unknown-ca"),
      unknownCaServer: pair("unknown-ca-server"),
      version1: pair("version1"),
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** Validity of the good certificates: from now, for two days. */
const DAYS = ["-days", "2"];
/** Validity of the expired certificate: one day in January 2020. */
const EXPIRED = ["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"];

/** Arguments making `openssl req` generate a fresh EC P-256 key into `<dir>/<name>.key`. */
function newKey(dir: string, name: string): string[] {
  return [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    join(dir, `${name}.key`),
  ];
}

/** Runs openssl with `args` (plus `-config` and `extra`), rejecting with its stderr on failure. */
function openssl(
  args: readonly string[],
  options: { dir: string; config?: string; extra?: readonly string[] },
): Promise<string> {
  const all = [
    ...args,
    ...(options.config === undefined ? [] : ["-config", options.config]),
    ...(options.extra ?? []),
  ];
  return new Promise((resolve, reject) => {
    execFile(OPENSSL_BIN, all, { cwd: options.dir }, (error, stdout, stderr) => {
      if (error === null) resolve(String(stdout));
      else {
        reject(
          new Error(`Cannot run openssl ${all.join(" ")}: ${String(stderr).trim()}`, {
            cause: error,
          }),
        );
      }
    });
  });
}

/**
 * memcached TLS settings (`startMemcached({ tls })`) serving `pair`. With `clientCa` the server
 * also demands a client certificate signed by that CA (`ssl_verify_mode` 2, "Require", or 3,
 * "Once").
 */
export function serving(
  pair: KeyPair,
  clientCa?: KeyPair,
  verifyMode: 2 | 3 = 2,
): MemcachedTlsOptions {
  return clientCa === undefined
    ? { certFile: pair.certFile, keyFile: pair.keyFile }
    : { certFile: pair.certFile, keyFile: pair.keyFile, caFile: clientCa.certFile, verifyMode };
}
