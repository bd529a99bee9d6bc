/**
 * Authentication through the client: SASL PLAIN over the binary protocol (memcached `-S` with a
 * sasldb made at test time by `saslpasswd2`) and ASCII authentication over the text and meta
 * protocols (memcached `-Y` with an auth file), plus TLS through the client with certificates
 * made by openssl at test time. Credentials must never show in errors, events, `toString()`
 * or inspection output.
 *
 * @module
 */

import assert from "node:assert/strict";
import { inspect } from "node:util";
import { test } from "./_harness.ts";
import { makeAuthFile, makeSaslDb } from "./_auth.ts";
import { rawCommand, serverStat, startMemcached } from "./_memcached.ts";
import { makeCertificates, serving } from "./_tls.ts";
import { assertIdle, withCode } from "./_util.ts";
import {
  Client,
  connect,
  Credentials,
  isMemcachedError,
  parseServer,
  type Protocol,
} from "../mod.ts";

const USER = "mica-user";
const PASSWORD = "pw-S3cr3t-9f1c";

/** Every way a client or error could be shown, joined, for leak checks. */
function shown(...things: unknown[]): string {
  const out: string[] = [];
  for (const thing of things) {
    out.push(String(thing));
    out.push(inspect(thing, { depth: 8, showHidden: true }));
    try {
      out.push(JSON.stringify(thing) ?? "");
    } catch {
      // Circular: inspection covers it.
    }
    if (thing instanceof Error) {
      out.push(thing.message, thing.stack ?? "", inspect(thing.cause, { depth: 8 }));
    }
    const deno = (globalThis as { Deno?: { inspect(v: unknown, o?: object): string } }).Deno;
    if (deno !== undefined) out.push(deno.inspect(thing, { depth: 8, showHidden: true }));
    const bun = (globalThis as { Bun?: { inspect(v: unknown): string } }).Bun;
    if (bun !== undefined) out.push(bun.inspect(thing));
  }
  return out.join("\n");
}

function assertNoSecret(text: string, what: string): void {
  assert.ok(!text.includes(PASSWORD), `${what} shows the password: ${text.slice(0, 400)}`);
}

test("SASL PLAIN over binary: the right password works, a wrong one is AUTH_FAILED", async () => {
  await using sasl = await makeSaslDb(USER, PASSWORD);
  await using server = await startMemcached({ args: ["-S"], env: sasl.env });
  {
    await using client = await connect(server.address, {
      protocol: "binary",
      username: USER,
      password: PASSWORD,
    });
    await client.set("k", "v");
    assert.equal(await client.get("k"), "v");
    // A second connection authenticates too.
    assert.deepEqual((await client.getMany(["k"])).get("k"), "v");
  }
  {
    await using client = await connect(
      `${USER}:${encodeURIComponent(PASSWORD)}@${server.address}`,
      {
        protocol: "binary",
      },
    );
    assert.equal(await client.get("k"), "v", "credentials in the address");
    assert.deepEqual(client.servers, [server.address], "the server's name has no credentials");
  }
  const error = await connect(server.address, {
    protocol: "binary",
    username: USER,
    password: "wrong",
  }).then(async (c) => {
    await c.close();
    return undefined;
  }, (e: unknown) => e);
  assert.ok(isMemcachedError(error, "AUTH_FAILED"), `got ${String(error)}`);
  assertNoSecret(shown(error), "the auth error");
  // Without credentials the server refuses the commands with a typed error.
  await using anonymous = await connect(server.address, { protocol: "binary" }).catch(
    () => undefined,
  ) ?? new Client(server.address, { protocol: "binary" });
  await assert.rejects(
    anonymous.get("k"),
    (e: unknown) => isMemcachedError(e, "AUTH_FAILED") || isMemcachedError(e, "CONNECTION_CLOSED"),
  );
});

for (const protocol of ["text", "meta"] as const satisfies readonly Protocol[]) {
  test(`ASCII auth over ${protocol}: the right password works, a wrong one is AUTH_FAILED`, async () => {
    await using file = await makeAuthFile([{ user: USER, password: PASSWORD }]);
    await using server = await startMemcached({ args: ["-Y", file.path] });
    {
      await using client = await connect(server.address, {
        protocol,
        username: USER,
        password: PASSWORD,
        poolSize: 2,
        eager: true,
      });
      await client.set("k", "v");
      await Promise.all(Array.from({ length: 50 }, (_, i) => client.set(`k${i}`, `v${i}`)));
      assert.equal(await client.get("k"), "v");
      assert.equal(await client.get("k49"), "v49");
      assert.equal(client.counters().connections, 2, "both pooled connections authenticated");
    }
    await assert.rejects(
      connect(server.address, { protocol, username: USER, password: "wrong" }),
      (e: unknown) => {
        assertNoSecret(shown(e), "the auth error");
        return isMemcachedError(e, "AUTH_FAILED");
      },
    );
    // A server that demands auth, and a client without credentials: typed, not a hang.
    await using anonymous = await connect(server.address, { protocol });
    await assert.rejects(anonymous.get("k"), withCode("AUTH_FAILED"));
    assert.equal(await anonymous.version().catch((e) => e.code), "AUTH_FAILED");
    assertIdle(anonymous, 1, "the anonymous client");
  });
}

for (const protocol of ["text", "meta"] as const satisfies readonly Protocol[]) {
  test(`ASCII auth over ${protocol} against a server without -Y: AUTH_FAILED, and the credentials are never sent`, async () => {
    await using server = await startMemcached();
    await assert.rejects(
      connect(server.address, { protocol, username: USER, password: PASSWORD }),
      (e: unknown) => {
        assertNoSecret(shown(e), "the error");
        return isMemcachedError(e, "AUTH_FAILED") &&
          /does not require authentication .* "auth" that anyone can read/.test(e.message);
      },
    );
    // Nothing was stored: no item "auth", no set at all, and nothing with the secret.
    assert.equal(await rawCommand(server, "get auth\r\n"), "END\r\n");
    assert.equal(await serverStat(server, "cmd_set"), 0);
    assert.equal(await serverStat(server, "curr_items"), 0);
    // Through the pool, every request fails the same way, and still nothing is sent.
    await using lazy = new Client(server.address, {
      protocol,
      username: USER,
      password: PASSWORD,
      failureLimit: 100,
    });
    for (let i = 0; i < 3; i++) await assert.rejects(lazy.get("k"), withCode("AUTH_FAILED"));
    assert.equal(await serverStat(server, "cmd_set"), 0);
    assert.equal(await rawCommand(server, "get auth\r\n"), "END\r\n");
  });
}

test("a server that refuses the credentials is marked dead after failureLimit connections", async () => {
  await using file = await makeAuthFile([{ user: USER, password: PASSWORD }]);
  await using server = await startMemcached({ args: ["-Y", file.path] });
  await using client = new Client(server.address, {
    username: USER,
    password: "wrong",
    failureLimit: 2,
    retryTimeout: 60_000,
  });
  const down: unknown[] = [];
  const errors: unknown[] = [];
  client.addEventListener("server-down", (event) => down.push((event as CustomEvent).detail));
  client.addEventListener("error", (event) => errors.push((event as CustomEvent).detail));
  const codes: string[] = [];
  for (let i = 0; i < 4; i++) {
    codes.push(await client.get("k").then(() => "ok", (e) => (e as { code: string }).code));
  }
  // Each refused handshake counts; after the second the server is dead until a probe, instead
  // of every request opening a socket and authenticating again.
  assert.deepEqual(codes, ["AUTH_FAILED", "AUTH_FAILED", "SERVER_DEAD", "SERVER_DEAD"]);
  assert.equal(down.length, 1);
  assert.equal(errors.length, 2, "two connections refused, no more");
});

test("an @ in a unix socket path is part of the path; credentials are only what comes before it", () => {
  for (const address of ["unix:/run/mc@1.sock", "/run/mc@1.sock", "./mc@1.sock"]) {
    const spec = parseServer(address);
    assert.equal(spec.credentials, undefined, address);
    assert.deepEqual(spec.endpoint, {
      kind: "unix",
      path: address.replace(/^unix:/, ""),
    }, address);
  }
  const spec = parseServer(`${USER}:${encodeURIComponent(PASSWORD)}@unix:/run/mc.sock`);
  assert.deepEqual(spec.endpoint, { kind: "unix", path: "/run/mc.sock" });
  assert.deepEqual(spec.credentials?.reveal((user, password) => [user, password]), [
    USER,
    PASSWORD,
  ]);
});

test("credentials never show in errors, events, toString() or inspection", async () => {
  await using file = await makeAuthFile([{ user: USER, password: PASSWORD }]);
  await using server = await startMemcached({ args: ["-Y", file.path] });
  const seen: unknown[] = [];
  await using client = new Client(`${USER}:${PASSWORD}@${server.address}`, {
    username: "other",
    password: PASSWORD,
    timeout: 500,
  });
  for (const type of ["server-down", "server-up", "reconnecting", "error"]) {
    client.addEventListener(type, (event) => seen.push((event as CustomEvent).detail));
  }
  await client.set("k", "v", { timeout: 10_000 });
  const credentials = Credentials.from(USER, PASSWORD);
  assertNoSecret(shown(client, credentials, client.counters(), client.servers), "the client");
  // Errors on every path: a bad address, a refused password, a killed server.
  const errors: unknown[] = [];
  try {
    new Client(`${USER}:${PASSWORD}@bad host:1`);
  } catch (error) {
    errors.push(error);
  }
  try {
    new Client(`${USER}:%zz${PASSWORD}@127.0.0.1:1`);
  } catch (error) {
    errors.push(error);
  }
  try {
    new Client({ host: "bad host", port: 1, username: USER, password: PASSWORD });
  } catch (error) {
    errors.push(error);
  }
  errors.push(
    await connect(server.address, { username: USER, password: `${PASSWORD}x` }).then(async (c) => {
      await c.close();
      return undefined;
    }, (e: unknown) => e),
  );
  server.kill("SIGKILL");
  errors.push(await client.get("k").catch((e) => e));
  assert.equal(errors.length, 5);
  for (const error of errors) assert.ok(isMemcachedError(error), String(error));
  assertNoSecret(shown(...errors, ...seen), "errors and events");
});

test("TLS through the client: verified chain works; unknown CA, wrong name and expiry are TLS_FAILED", async () => {
  await using certs = await makeCertificates();
  await using good = await startMemcached({
    tls: serving(certs.server),
  });
  for (const protocol of ["meta", "text", "binary"] as const) {
    await using client = await connect(`127.0.0.1:${good.port}`, {
      protocol,
      tls: { ca: [certs.ca.cert] },
    });
    await client.set("k", protocol);
    assert.equal(await client.get("k"), protocol);
  }
  await assert.rejects(
    connect(`localhost:${good.port}`, { tls: true }),
    withCode("TLS_FAILED"),
    "the system store does not trust the test CA",
  );
  await assert.rejects(
    connect(`127.0.0.1:${good.port}`, {
      tls: { ca: [certs.ca.cert], serverName: "other.example" },
    }),
    withCode("TLS_FAILED"),
  );
  for (
    const [name, pair] of [["wrong name", certs.wrongName], ["expired", certs.expired]] as const
  ) {
    await using server = await startMemcached({
      tls: serving(pair),
    });
    await assert.rejects(
      connect(`127.0.0.1:${server.port}`, { tls: { ca: [certs.ca.cert] } }),
      withCode("TLS_FAILED"),
      name,
    );
  }
  await using unknown = await startMemcached({
    tls: serving(certs.unknownCaServer),
  });
  await assert.rejects(
    connect(`127.0.0.1:${unknown.port}`, { tls: { ca: [certs.ca.cert] } }),
    withCode("TLS_FAILED"),
    "unknown CA",
  );
  // Plain TCP against a TLS port fails typed too, within the timeouts.
  await assert.rejects(
    connect(`127.0.0.1:${good.port}`, { timeout: 300, connectTimeout: 300 }).then((c) =>
      c.version().finally(() => c.close())
    ),
    (e: unknown) => isMemcachedError(e),
  );
});

test("mutual TLS through the client: works with the client certificate, refused without", async () => {
  await using certs = await makeCertificates();
  await using server = await startMemcached({
    tls: serving(certs.server, certs.ca, 3),
  });
  await using client = await connect(`127.0.0.1:${server.port}`, {
    tls: { ca: [certs.ca.cert], cert: certs.client.cert, key: certs.client.key },
  });
  await client.set("k", "mtls");
  assert.equal(await client.get("k"), "mtls");
  // The refusal comes after the handshake, as a TLS alert: the timeout only bounds the wait.
  const error = await connect(`127.0.0.1:${server.port}`, {
    tls: { ca: [certs.ca.cert] },
    timeout: 10_000,
  }).then((c) => c.get("k").finally(() => c.close())).then(() => undefined, (e: unknown) => e);
  assert.ok(isMemcachedError(error, "TLS_FAILED"), `got ${String(error)}`);
});
