/**
 * TLS through the runtime's adapter and `nodeConnector`, driven directly (no client), against
 * memcached `-Z` with certificates made by `_tls.ts` at test time.
 *
 * What each runtime does when the client certificate is missing (memcached
 * `ssl_verify_mode=2`): both negotiate TLS 1.3, where the client's handshake is complete before
 * the server checks the client's certificate, so the connect RESOLVES; the server's fatal alert
 * arrives with the first read, and `closed()` receives a `MemcachedError` coded `TLS_FAILED`
 * ("the server demands a client certificate"). Deno reports the alert as a read error
 * (`received fatal alert: CertificateRequired`), Bun through the socket's `error` handler
 * (`TLSV1_ALERT_CERTIFICATE_REQUIRED`). A client over the transport sees `CONNECTION_CLOSED`
 * with that `TLS_FAILED` as its cause. `nodeConnector` gets the alert as the socket's `error`
 * event (`ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED` in Node and Deno), and through Deno's
 * `node:tls` now and then right after `secureConnect`, before the connect resolved: that
 * connect then rejects with the same `TLS_FAILED` reason.
 *
 * Every test runs for the runtime's own adapter and for `nodeConnector`, which runs here over the
 * runtime's emulation of `node:tls` (Deno's is built on rustls, Bun's on BoringSSL). Where that
 * emulation differs from Node (and so from the other adapter), the test asserts what the
 * runtime does and says why: Deno's `node:tls` reports an expired certificate as
 * `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, ignores a `ca` entry that is not PEM (as Node does), and
 * fails the handshake on a client key that is not the certificate's; Bun's refuses both before
 * connecting. Neither has the `denoConnector`'s limits: TLS over a unix socket and a client
 * certificate with another `serverName` both work.
 *
 * @module
 */

import assert from "node:assert/strict";
import { test } from "./_harness.ts";
import {
  type MemcachedServer,
  openFdCount,
  rawCommand,
  settledFdCount,
  startMemcached,
} from "./_memcached.ts";
import { type CertificateSet, makeCertificates, serving } from "./_tls.ts";
import {
  assertMemcachedError,
  IS_BUN,
  Recorder,
  runtimeConnector,
  sleep,
  suspend,
  utf8,
  withCode,
} from "./_util.ts";
import type {
  Connector,
  Endpoint,
  TlsOptions,
  Transport,
  TransportHandlers,
} from "../src/connection/transport.ts";
import { nodeConnector } from "../src/adapters/node.ts";

const RUNTIME = IS_BUN ? "Bun" : "Deno";

/** An adapter under test. */
interface Adapter {
  /** Its export name, which starts every test name. */
  readonly name: string;
  readonly connector: Connector;
  /** Appended to every test name. */
  readonly note: string;
  /** Whether it is `nodeConnector` (over the runtime's `node:tls`). */
  readonly node: boolean;
}

/** The adapters every test runs for. */
const ADAPTERS: readonly Adapter[] = [
  {
    name: IS_BUN ? "bunConnector" : "denoConnector",
    connector: runtimeConnector,
    // The other runtime's adapter cannot run here.
    note: `(${IS_BUN ? "denoConnector" : "bunConnector"} is skipped under ${RUNTIME})`,
    node: false,
  },
  {
    name: "nodeConnector",
    connector: nodeConnector,
    note: `(over ${RUNTIME}'s node:tls)`,
    node: true,
  },
];

function tcp(server: MemcachedServer): Endpoint {
  return { kind: "tcp", host: server.host, port: server.port };
}

function openTls(
  connector: Connector,
  endpoint: Endpoint,
  handlers: TransportHandlers,
  tls: TlsOptions,
  signal: AbortSignal = new AbortController().signal,
): Promise<Transport> {
  return connector(endpoint, handlers, { signal, noDelay: true, tls });
}

/** Sends `version` over `transport` and checks the reply; then destroys the transport. */
async function versionRoundTrip(transport: Transport, recorder: Recorder): Promise<void> {
  assert.equal(transport.write(utf8("version\r\n")), true);
  await recorder.until(() => recorder.text.endsWith("\r\n"), "the version reply");
  assert.match(recorder.text, /^VERSION \d+\.\d+\.\d+\r\n$/);
  transport.destroy();
  await transport.done;
  assert.equal(recorder.closedCalls, 1);
  assert.equal(recorder.closedError, undefined);
}

/** Asserts that opening TLS to `endpoint` rejects with TLS_FAILED naming `reason`. */
async function assertRefused(
  connector: Connector,
  endpoint: Endpoint,
  tls: TlsOptions,
  reason: RegExp,
): Promise<void> {
  const recorder = new Recorder();
  await assert.rejects(openTls(connector, endpoint, recorder, tls), (error) => {
    assertMemcachedError(error, "TLS_FAILED");
    assert.match(error.message, /^Cannot complete the TLS handshake with /);
    assert.match(error.message, reason);
    assert.ok(error.cause instanceof Error, "the runtime's error is kept as cause");
    return true;
  });
  await sleep(20);
  assert.equal(recorder.closedCalls, 0, "closed() is not called for a connect that failed");
}

/**
 * How `nodeConnector` handles client certificates and CAs a runtime's `node:tls` refuses or
 * ignores, against the mutual-TLS `server`.
 */
async function nodePemCases(certs: CertificateSet, server: MemcachedServer): Promise<void> {
  // A key that holds a certificate: the adapter refuses it itself in every runtime (Deno's
  // node:tls would connect without a client certificate).
  await assert.rejects(
    openTls(nodeConnector, tcp(server), new Recorder(), {
      ca: [certs.ca.cert],
      cert: certs.client.cert,
      key: certs.client.cert,
    }),
    (error: unknown) => {
      assertMemcachedError(error, "INVALID_ARGUMENT");
      assert.match(error.message, /key is not valid PEM/);
      return true;
    },
  );
  // A valid key that is not the certificate's.
  const mismatched = { ca: [certs.ca.cert], cert: certs.client.cert, key: certs.server.key };
  // A CA entry that is not PEM, and no other CA.
  const badCa = { ca: ["not pem"] };
  if (IS_BUN) {
    // Bun's node:tls checks both when the socket is made (as Node does for the key), and
    // tls.connect throws.
    await assert.rejects(
      openTls(nodeConnector, tcp(server), new Recorder(), mismatched),
      (error) => {
        assertMemcachedError(error, "INVALID_ARGUMENT");
        assert.equal((error.cause as { code?: unknown }).code, "ERR_OSSL_X509_KEY_VALUES_MISMATCH");
        return true;
      },
    );
    await assert.rejects(openTls(nodeConnector, tcp(server), new Recorder(), badCa), (error) => {
      assertMemcachedError(error, "INVALID_ARGUMENT");
      assert.match(error.message, /Invalid CA/);
      return true;
    });
  } else {
    // Deno's node:tls takes the mismatched key and fails the handshake with
    // ERR_SSL_UNSUPPORTED_PROTOCOL, a code that does not say why.
    const recorder = new Recorder();
    await assert.rejects(openTls(nodeConnector, tcp(server), recorder, mismatched), (error) => {
      assertMemcachedError(error, "TLS_FAILED");
      assert.match(error.message, /^Cannot complete the TLS handshake with 127\.0\.0\.1: /);
      assert.equal((error.cause as { code?: unknown }).code, "ERR_SSL_UNSUPPORTED_PROTOCOL");
      return true;
    });
    assert.equal(recorder.closedCalls, 0);
    // It ignores the CA that is not PEM (as Node does), so the server is not trusted.
    await assertRefused(nodeConnector, tcp(server), badCa, /not signed by a trusted CA/);
  }
}

for (const adapter of ADAPTERS) {
  const { name, note, connector } = adapter;

  test(`${name} connects over TLS with a trusted chain and round-trips version ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.server),
    });
    assert.ok(server.plainPort !== undefined && server.plainPort !== server.port);
    // rawCommand talks to the plain listener.
    assert.match(await rawCommand(server, "version\r\n"), /^VERSION /);
    const recorder = new Recorder();
    using transport = await openTls(connector, tcp(server), recorder, { ca: [certs.ca.cert] });
    await versionRoundTrip(transport, recorder);
  });

  test(`${name} verifies serverName "localhost" while connecting to 127.0.0.1 ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.server),
    });
    const recorder = new Recorder();
    using transport = await openTls(connector, tcp(server), recorder, {
      ca: [certs.ca.cert],
      serverName: "localhost",
    });
    await versionRoundTrip(transport, recorder);
    // And a serverName the certificate does not hold is refused.
    await assertRefused(connector, tcp(server), {
      ca: [certs.ca.cert],
      serverName: "other.example",
    }, /name/);
  });

  test(`${name} refuses a certificate from an unknown CA with TLS_FAILED ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.unknownCaServer),
    });
    await assertRefused(
      connector,
      tcp(server),
      { ca: [certs.ca.cert] },
      /not signed by a trusted CA/,
    );
    // Without `ca` the system store is used, which does not hold the test CA either.
    await assertRefused(connector, tcp(server), {}, /not signed by a trusted CA/);
  });

  test(`${name} refuses a certificate for another name with TLS_FAILED ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.wrongName),
    });
    await assertRefused(
      connector,
      tcp(server),
      { ca: [certs.ca.cert] },
      /does not name the server/,
    );
  });

  test(`${name} refuses an expired certificate with TLS_FAILED ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.expired),
    });
    if (adapter.node && !IS_BUN) {
      // Deno's node:tls reports every rustls verification failure but a name mismatch and a
      // self-signed chain as UNABLE_TO_VERIFY_LEAF_SIGNATURE ("unable to verify the first
      // certificate"), an expired certificate included: refused, but with the CA's reason.
      await assertRefused(
        connector,
        tcp(server),
        { ca: [certs.ca.cert] },
        /not signed by a trusted CA \(unable to verify the first certificate\)$/,
      );
    } else {
      await assertRefused(connector, tcp(server), { ca: [certs.ca.cert] }, /expired/);
    }
  });

  test(`${name} refuses a server that does not speak TLS with TLS_FAILED ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached();
    await assertRefused(connector, tcp(server), { ca: [certs.ca.cert] }, /does not speak TLS/);
  });

  test(`${name} sends a client certificate for mutual TLS ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.server, certs.ca),
    });
    const recorder = new Recorder();
    using transport = await openTls(connector, tcp(server), recorder, {
      ca: [certs.ca.cert],
      cert: certs.client.cert,
      key: certs.client.key,
    });
    await versionRoundTrip(transport, recorder);
  });

  test(`${name} fails with TLS_FAILED when mutual TLS lacks the client certificate ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.server, certs.ca),
    });
    const recorder = new Recorder();
    let opened: Transport;
    try {
      opened = await openTls(connector, tcp(server), recorder, { ca: [certs.ca.cert] });
    } catch (error) {
      // A TLS 1.2 server would fail the handshake itself. And Deno's node:tls at times emits
      // the server's alert right after `secureConnect`, before nodeConnector has handed the
      // transport over, so that connect fails with it.
      assertMemcachedError(error, "TLS_FAILED");
      assert.match(error.message, /the server demands a client certificate/);
      return;
    }
    using transport = opened;
    // TLS 1.3 (what both runtimes negotiate): the refusal arrives after the handshake.
    transport.write(utf8("version\r\n"));
    await recorder.until(() => recorder.closedCalls > 0, "closed()");
    await transport.done;
    assert.equal(recorder.text, "", "no reply without a client certificate");
    assertMemcachedError(recorder.closedError, "TLS_FAILED", "the error given to closed()");
    assert.match(recorder.closedError.message, /the server demands a client certificate/);
    await sleep(20);
    assert.equal(recorder.closedCalls, 1);
  });

  test(`${name} aborts a TLS handshake the server never answers ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.server),
    });
    const recorder = new Recorder();
    const controller = new AbortController();
    // A stopped server still completes TCP connects (the kernel accepts into the backlog), but
    // never answers the ClientHello.
    try {
      await suspend(server);
      const attempt = openTls(
        connector,
        tcp(server),
        recorder,
        { ca: [certs.ca.cert] },
        controller.signal,
      );
      await sleep(100);
      controller.abort(new Error("gave up on the handshake"));
      await assert.rejects(attempt, /gave up on the handshake/);
    } finally {
      server.kill("SIGCONT");
    }
    await sleep(20);
    assert.equal(recorder.closedCalls, 0);
  });

  test(`${name} rejects bad TLS option combinations before connecting ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.server, certs.ca),
    });
    const recorder = new Recorder();
    await assert.rejects(
      openTls(connector, tcp(server), recorder, { ca: [certs.ca.cert], cert: certs.client.cert }),
      withCode("INVALID_ARGUMENT"),
    );
    // An IPv6 host is named as servers are, in brackets (nothing is contacted: the check fails).
    await assert.rejects(
      openTls(connector, { kind: "tcp", host: "::1", port: 1 }, recorder, {
        cert: certs.client.cert,
      }),
      (error: unknown) =>
        withCode("INVALID_ARGUMENT")(error) && /\[::1\]:1 with TLS/.test((error as Error).message),
    );
    await assert.rejects(
      openTls(connector, tcp(server), recorder, {
        ca: [certs.ca.cert],
        cert: "not pem",
        key: "not pem",
      }),
      withCode("INVALID_ARGUMENT"),
    );
    if (adapter.node) await nodePemCases(certs, server);
    const withServerName = openTls(connector, tcp(server), recorder, {
      ca: [certs.ca.cert],
      serverName: "localhost",
      cert: certs.client.cert,
      key: certs.client.key,
    });
    if (IS_BUN || adapter.node) {
      // Bun, and node:tls in either runtime, set SNI and the verified name independently of
      // the address: this works.
      using transport = await withServerName;
      await versionRoundTrip(transport, recorder);
    } else {
      // Deno.startTls (the only way to verify another name) takes no client certificate.
      await assert.rejects(withServerName, withCode("UNSUPPORTED"));
    }
  });

  test(`${name} TLS over a unix socket: UNSUPPORTED in denoConnector, TLS_FAILED against plain memcached in bunConnector and nodeConnector ${note}`, async () => {
    await using certs = await makeCertificates();
    // memcached has no TLS on unix sockets; this shows what the adapter does with the request.
    await using server = await startMemcached({ unixSocket: true });
    const endpoint: Endpoint = { kind: "unix", path: server.socketPath! };
    const tls = { ca: [certs.ca.cert], serverName: "localhost" };
    // node:tls speaks TLS over a unix socket in both runtimes (tls.connect({ path })).
    if (IS_BUN || adapter.node) {
      await assertRefused(connector, endpoint, tls, /does not speak TLS/);
    } else {
      await assert.rejects(
        openTls(connector, endpoint, new Recorder(), tls),
        withCode("UNSUPPORTED"),
      );
    }
  });

  test(`${name} opens and disposes 50 TLS connections without leaking ${note}`, async () => {
    await using certs = await makeCertificates();
    await using server = await startMemcached({
      tls: serving(certs.server),
    });
    // Warm up once, so lazily opened runtime descriptors are not counted as leaks.
    {
      const recorder = new Recorder();
      using transport = await openTls(connector, tcp(server), recorder, { ca: [certs.ca.cert] });
      await versionRoundTrip(transport, recorder);
    }
    const before = openFdCount();
    for (let i = 0; i < 50; i++) {
      const recorder = new Recorder();
      let done: Promise<void>;
      {
        using transport = await openTls(connector, tcp(server), recorder, { ca: [certs.ca.cert] });
        done = transport.done;
        if (i % 2 === 0) {
          transport.write(utf8("version\r\n"));
          await recorder.until(() => recorder.text.endsWith("\r\n"), "the version reply");
        }
      }
      await done;
      assert.equal(recorder.closedCalls, 1);
    }
    // Failed handshakes must not leak either.
    for (let i = 0; i < 10; i++) {
      await assert.rejects(
        openTls(connector, tcp(server), new Recorder(), {}),
        withCode("TLS_FAILED"),
      );
    }
    if (IS_BUN) {
      // Deno's resource sanitizer covers Deno; Bun has none, so count descriptors.
      assert.ok((await settledFdCount(before)) <= before, "file descriptors leaked");
    }
  });
}
