/**
 * TLS through the runtime's adapter, driven directly (no client), against memcached `-Z` with
 * certificates made by `_tls.ts` at test time.
 *
 * What each runtime does when the client certificate is missing (memcached
 * `ssl_verify_mode=2`): both negotiate TLS 1.3, where the client's handshake is complete before
 * the server checks the client's certificate, so the connect RESOLVES; the server's fatal alert
 * arrives with the first read, and `closed()` receives a `MemcachedError` coded `TLS_FAILED`
 * ("the server demands a client certificate"). Deno reports the alert as a read error
 * (`received fatal alert: CertificateRequired`), Bun through the socket's `error` handler
 * (`TLSV1_ALERT_CERTIFICATE_REQUIRED`). A client over the transport sees `CONNECTION_CLOSED`
 * with that `TLS_FAILED` as its cause.
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
import { makeCertificates, serving } from "./_tls.ts";
import {
  assertMemcachedError,
  IS_BUN,
  Recorder,
  runtimeConnector as connector,
  sleep,
  utf8,
  withCode,
} from "./_util.ts";
import type {
  Endpoint,
  TlsOptions,
  Transport,
  TransportHandlers,
} from "../src/connection/transport.ts";

const NAME = IS_BUN ? "bunConnector" : "denoConnector";
const SKIP_NOTE = `(${IS_BUN ? "denoConnector" : "bunConnector"} is skipped under ${
  IS_BUN ? "Bun" : "Deno"
})`;

function tcp(server: MemcachedServer): Endpoint {
  return { kind: "tcp", host: server.host, port: server.port };
}

function openTls(
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
  endpoint: Endpoint,
  tls: TlsOptions,
  reason: RegExp,
): Promise<void> {
  const recorder = new Recorder();
  await assert.rejects(openTls(endpoint, recorder, tls), (error) => {
    assertMemcachedError(error, "TLS_FAILED");
    assert.match(error.message, /^Cannot complete the TLS handshake with /);
    assert.match(error.message, reason);
    assert.ok(error.cause instanceof Error, "the runtime's error is kept as cause");
    return true;
  });
  await sleep(20);
  assert.equal(recorder.closedCalls, 0, "closed() is not called for a connect that failed");
}

test(`${NAME} connects over TLS with a trusted chain and round-trips version ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.server),
  });
  assert.ok(server.plainPort !== undefined && server.plainPort !== server.port);
  // rawCommand talks to the plain listener.
  assert.match(await rawCommand(server, "version\r\n"), /^VERSION /);
  const recorder = new Recorder();
  using transport = await openTls(tcp(server), recorder, { ca: [certs.ca.cert] });
  await versionRoundTrip(transport, recorder);
});

test(`${NAME} verifies serverName "localhost" while connecting to 127.0.0.1 ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.server),
  });
  const recorder = new Recorder();
  using transport = await openTls(tcp(server), recorder, {
    ca: [certs.ca.cert],
    serverName: "localhost",
  });
  await versionRoundTrip(transport, recorder);
  // And a serverName the certificate does not hold is refused.
  await assertRefused(tcp(server), { ca: [certs.ca.cert], serverName: "other.example" }, /name/);
});

test(`${NAME} refuses a certificate from an unknown CA with TLS_FAILED ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.unknownCaServer),
  });
  await assertRefused(tcp(server), { ca: [certs.ca.cert] }, /not signed by a trusted CA/);
  // Without `ca` the system store is used, which does not hold the test CA either.
  await assertRefused(tcp(server), {}, /not signed by a trusted CA/);
});

test(`${NAME} refuses a certificate for another name with TLS_FAILED ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.wrongName),
  });
  await assertRefused(tcp(server), { ca: [certs.ca.cert] }, /does not name the server/);
});

test(`${NAME} refuses an expired certificate with TLS_FAILED ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.expired),
  });
  await assertRefused(tcp(server), { ca: [certs.ca.cert] }, /expired/);
});

test(`${NAME} refuses a server that does not speak TLS with TLS_FAILED ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached();
  await assertRefused(tcp(server), { ca: [certs.ca.cert] }, /does not speak TLS/);
});

test(`${NAME} sends a client certificate for mutual TLS ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.server, certs.ca),
  });
  const recorder = new Recorder();
  using transport = await openTls(tcp(server), recorder, {
    ca: [certs.ca.cert],
    cert: certs.client.cert,
    key: certs.client.key,
  });
  await versionRoundTrip(transport, recorder);
});

test(`${NAME} fails with TLS_FAILED when mutual TLS lacks the client certificate ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.server, certs.ca),
  });
  const recorder = new Recorder();
  let opened: Transport;
  try {
    opened = await openTls(tcp(server), recorder, { ca: [certs.ca.cert] });
  } catch (error) {
    // A TLS 1.2 server would fail the handshake itself.
    assertMemcachedError(error, "TLS_FAILED");
    assert.match(error.message, /client certificate/);
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

test(`${NAME} aborts a TLS handshake the server never answers ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.server),
  });
  const recorder = new Recorder();
  const controller = new AbortController();
  // A stopped server still completes TCP connects (the kernel accepts into the backlog), but
  // never answers the ClientHello.
  server.kill("SIGSTOP");
  try {
    const attempt = openTls(tcp(server), recorder, { ca: [certs.ca.cert] }, controller.signal);
    await sleep(100);
    controller.abort(new Error("gave up on the handshake"));
    await assert.rejects(attempt, /gave up on the handshake/);
  } finally {
    server.kill("SIGCONT");
  }
  await sleep(20);
  assert.equal(recorder.closedCalls, 0);
});

test(`${NAME} rejects bad TLS option combinations before connecting ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.server, certs.ca),
  });
  const recorder = new Recorder();
  await assert.rejects(
    openTls(tcp(server), recorder, { ca: [certs.ca.cert], cert: certs.client.cert }),
    withCode("INVALID_ARGUMENT"),
  );
  // An IPv6 host is named as servers are, in brackets (nothing is contacted: the check fails).
  await assert.rejects(
    openTls({ kind: "tcp", host: "::1", port: 1 }, recorder, { cert: certs.client.cert }),
    (error: unknown) =>
      withCode("INVALID_ARGUMENT")(error) && /\[::1\]:1 with TLS/.test((error as Error).message),
  );
  await assert.rejects(
    openTls(tcp(server), recorder, { ca: [certs.ca.cert], cert: "not pem", key: "not pem" }),
    withCode("INVALID_ARGUMENT"),
  );
  const withServerName = openTls(tcp(server), recorder, {
    ca: [certs.ca.cert],
    serverName: "localhost",
    cert: certs.client.cert,
    key: certs.client.key,
  });
  if (IS_BUN) {
    // Bun sets SNI and the verified name independently of the address: this works.
    using transport = await withServerName;
    await versionRoundTrip(transport, recorder);
  } else {
    // Deno.startTls (the only way to verify another name) takes no client certificate.
    await assert.rejects(withServerName, withCode("UNSUPPORTED"));
  }
});

test(`${NAME} TLS over a unix socket: UNSUPPORTED in Deno, TLS_FAILED against plain memcached in Bun ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  // memcached has no TLS on unix sockets; this shows what the adapter does with the request.
  await using server = await startMemcached({ unixSocket: true });
  const endpoint: Endpoint = { kind: "unix", path: server.socketPath! };
  const tls = { ca: [certs.ca.cert], serverName: "localhost" };
  if (IS_BUN) {
    await assertRefused(endpoint, tls, /does not speak TLS/);
  } else {
    await assert.rejects(openTls(endpoint, new Recorder(), tls), withCode("UNSUPPORTED"));
  }
});

test(`${NAME} opens and disposes 50 TLS connections without leaking ${SKIP_NOTE}`, async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.server),
  });
  // Warm up once, so lazily opened runtime descriptors are not counted as leaks.
  {
    const recorder = new Recorder();
    using transport = await openTls(tcp(server), recorder, { ca: [certs.ca.cert] });
    await versionRoundTrip(transport, recorder);
  }
  const before = openFdCount();
  for (let i = 0; i < 50; i++) {
    const recorder = new Recorder();
    let done: Promise<void>;
    {
      using transport = await openTls(tcp(server), recorder, { ca: [certs.ca.cert] });
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
    await assert.rejects(openTls(tcp(server), new Recorder(), {}), withCode("TLS_FAILED"));
  }
  if (IS_BUN) {
    // Deno's resource sanitizer covers Deno; Bun has none, so count descriptors.
    assert.ok((await settledFdCount(before)) <= before, "file descriptors leaked");
  }
});
