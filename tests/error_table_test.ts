/**
 * One fault, one error: a table of faults run for the runtime's own adapter and for
 * `nodeConnector`, under `deno test` and `bun test`. For each fault every adapter must give the
 * same code and the same message, worded by one scheme:
 *
 *     Cannot <action>[ on|to <server>]: <reason>[ (<code or the runtime's detail>)]
 *
 * never repeating itself ("Cannot set: Cannot connect ..."), with the underlying failure kept as
 * `cause`: a connect error's cause is the runtime's own error (whose `code` is kept); a request
 * that failed with its connection has the connection's error as cause.
 *
 * The runtimes word the same socket fault differently (Deno: `Connection refused (os error
 * 111)`, Bun: `Failed to connect`, Node: `connect ECONNREFUSED 127.0.0.1:1`); Mica's message is
 * the same in all of them.
 *
 * @module
 */

import assert from "node:assert/strict";
import net from "node:net";
import { test } from "./_harness.ts";
import { makeAuthFile } from "./_auth.ts";
import { IS_BUN, isStopped, runtimeConnector, waitFor, within } from "./_util.ts";
import { pickFreePort, startMemcached } from "./_memcached.ts";
import { makeCertificates, serving } from "./_tls.ts";
import { type ClientOptions, connect, type ErrorCode, MemcachedError } from "../mod.ts";
import { nodeConnector } from "../src/adapters/node.ts";
import type { Connector } from "../src/connection/transport.ts";

const RUNTIME = IS_BUN ? "Bun" : "Deno";
const OWN = IS_BUN ? "bunConnector" : "denoConnector";

const ADAPTERS: ReadonlyArray<readonly [string, Connector]> = [
  [OWN, runtimeConnector],
  ["nodeConnector", nodeConnector],
];

/** What a fault must produce. */
interface Expected {
  readonly code: ErrorCode;
  /** The whole message (anchored). */
  readonly message: RegExp;
  /** The POSIX code the runtime's error (the root cause) carries, when it has one. */
  readonly causeCode?: string;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The innermost cause: the runtime's own error. */
function rootCause(error: unknown): unknown {
  let at = error;
  while (at instanceof MemcachedError && at.cause !== undefined) at = at.cause;
  return at;
}

/** Asserts one error against the table's row, for one adapter. */
function check(error: unknown, expected: Expected, what: string): void {
  assert.ok(error instanceof MemcachedError, `${what}: a MemcachedError, got ${error}`);
  assert.equal(error.code, expected.code, `${what}: ${error.message}`);
  assert.match(error.message, expected.message, what);
  assert.doesNotMatch(error.message, /Cannot .*\bCannot /i, `${what}: says "Cannot" twice`);
  if (expected.causeCode !== undefined) {
    const root = rootCause(error);
    assert.ok(root instanceof Error && !(root instanceof MemcachedError), `${what}: root cause`);
    assert.equal((root as { code?: unknown }).code, expected.causeCode, `${what}: cause code`);
  }
}

/** Runs `attempt` for each adapter and checks the error against `expected`. */
async function row(
  fault: string,
  expected: (adapter: string) => Expected | "connects",
  attempt: (connector: Connector) => Promise<unknown>,
): Promise<void> {
  const messages = new Set<string>();
  for (const [name, connector] of ADAPTERS) {
    const what = `${fault} [${name} on ${RUNTIME}]`;
    let failure: unknown;
    try {
      await attempt(connector);
    } catch (error) {
      failure = error;
    }
    // After the attempt: it may start the server the expectation names.
    const want = expected(name);
    if (want === "connects") {
      assert.equal(failure, undefined, `${what}: expected to work, got ${failure}`);
      continue;
    }
    assert.ok(failure !== undefined, `${what}: expected ${want.code}, but it worked`);
    check(failure, want, what);
    // The same fault reads the same in every adapter (ports differ between servers only).
    messages.add((failure as Error).message.replace(/:\d+\b/g, ":PORT"));
  }
  if (messages.size > 1 && !fault.includes("(wording differs)")) {
    assert.fail(`${fault}: the adapters word it differently: ${[...messages].join(" | ")}`);
  }
}

const SHORT: ClientOptions = { connectTimeout: 2_000, timeout: 2_000 };

async function connectAndSet(
  connector: Connector,
  servers: string,
  options: ClientOptions = {},
): Promise<void> {
  await using client = await connect(servers, { ...SHORT, ...options, connector });
  await client.set("k", "v");
}

/** A loopback TCP server whose connections run `onConnection`; closed on dispose. */
async function fakeServer(
  onConnection: (socket: net.Socket) => void,
): Promise<{ address: string } & AsyncDisposable> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    [Symbol.asyncDispose]: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test("error table: faults opening a connection give one code and one wording in every adapter", async () => {
  const port = await pickFreePort();
  await row(
    "connection refused",
    () => ({
      code: "CONNECT_FAILED",
      message: new RegExp(
        `^Cannot connect to 127\\.0\\.0\\.1:${port}: connection refused \\(ECONNREFUSED\\)$`,
      ),
      causeCode: "ECONNREFUSED",
    }),
    (connector) => connectAndSet(connector, `127.0.0.1:${port}`),
  );
  const path = `/tmp/mica-no-such-socket-${process.pid}.sock`;
  await row(
    "missing unix socket",
    () => ({
      code: "CONNECT_FAILED",
      message: new RegExp(`^Cannot connect to ${escape(path)}: no such socket \\(ENOENT\\)$`),
      causeCode: "ENOENT",
    }),
    (connector) => connectAndSet(connector, path),
  );
  // The .invalid top-level domain never resolves (RFC 6761). A machine without a resolver
  // answers EAI_AGAIN instead.
  await row(
    "unknown host",
    () => ({
      code: "CONNECT_FAILED",
      message:
        /^Cannot connect to mica\.invalid:11211: (host not found \(ENOTFOUND\)|host lookup failed for now \(EAI_AGAIN\))$/,
    }),
    (connector) => connectAndSet(connector, "mica.invalid:11211"),
  );
  {
    // Accepts and never answers: a TLS handshake that never ends.
    await using silent = await fakeServer(() => {});
    await row(
      "no TLS handshake within connectTimeout",
      () => ({
        code: "CONNECT_TIMEOUT",
        message: new RegExp(
          `^Cannot connect to ${escape(silent.address)}: no connection within 300 ms$`,
        ),
      }),
      (connector) => connectAndSet(connector, silent.address, { tls: true, connectTimeout: 300 }),
    );
  }
});

test("error table: TLS faults are TLS_FAILED in every adapter, the reason in plain words", async () => {
  await using certs = await makeCertificates();
  const tls = (extra: object = {}) => ({ tls: { ca: [certs.ca.cert], ...extra } });
  const cases = [
    [
      "untrusted CA",
      serving(certs.unknownCaServer),
      /the certificate is not signed by a trusted CA/,
    ],
    [
      "certificate for another name",
      serving(certs.wrongName),
      /the certificate does not name the server/,
    ],
  ] as const;
  for (const [fault, serverTls, reason] of cases) {
    await using server = await startMemcached({ tls: serverTls });
    await row(
      `${fault} (wording differs)`,
      () => ({
        code: "TLS_FAILED",
        message: new RegExp(
          `^Cannot complete the TLS handshake with localhost: ${reason.source} \\(.+\\)$`,
        ),
      }),
      (connector) => connectAndSet(connector, `localhost:${server.port}`, tls()),
    );
  }
  {
    await using server = await startMemcached({ tls: serving(certs.expired) });
    await row(
      "expired certificate (wording differs)",
      (adapter) => ({
        code: "TLS_FAILED",
        // Deno's node:tls reports an expired certificate as UNABLE_TO_VERIFY_LEAF_SIGNATURE.
        message: adapter === "nodeConnector" && !IS_BUN
          ? /^Cannot complete the TLS handshake with localhost: the certificate is not signed by a trusted CA \(.+\)$/
          : /^Cannot complete the TLS handshake with localhost: the certificate is expired or not yet valid \(.+\)$/,
      }),
      (connector) => connectAndSet(connector, `localhost:${server.port}`, tls()),
    );
  }
  {
    await using server = await startMemcached();
    await row(
      "plain memcached where TLS is expected (wording differs)",
      () => ({
        code: "TLS_FAILED",
        message:
          /^Cannot complete the TLS handshake with localhost: the server does not speak TLS on this port \(.+\)$/,
      }),
      (connector) => connectAndSet(connector, `localhost:${server.port}`, tls()),
    );
  }
  {
    // X.509 version 1 certificates: OpenSSL and BoringSSL accept them (the server's name is in
    // its CN); rustls does not, as the server's certificate or as the client's. With a client
    // certificate the handshake runs inside Deno.connectTls, which used to give CONNECT_FAILED.
    const refusedByDeno = (adapter: string): Expected | "connects" =>
      adapter === "denoConnector"
        ? {
          code: "TLS_FAILED",
          message:
            /^Cannot complete the TLS handshake with localhost: the certificate is X\.509 version 1, which Deno's TLS \(rustls\) refuses \(.+\)$/,
        }
        : "connects";
    {
      await using server = await startMemcached({ tls: serving(certs.version1) });
      await row(
        "server certificate of X.509 version 1 (wording differs)",
        refusedByDeno,
        (connector) => connectAndSet(connector, `localhost:${server.port}`, tls()),
      );
    }
    {
      await using server = await startMemcached({ tls: serving(certs.server, certs.ca) });
      const mutual = tls({ cert: certs.version1.cert, key: certs.version1.key });
      await row(
        "client certificate of X.509 version 1 (wording differs)",
        refusedByDeno,
        (connector) => connectAndSet(connector, `localhost:${server.port}`, mutual),
      );
    }
  }
  {
    // Mutual TLS without a client certificate: TLS 1.3 lets the connect finish; the server's
    // alert fails the first request.
    await using server = await startMemcached({ tls: serving(certs.server, certs.ca) });
    await row(
      "server demands a client certificate (wording differs)",
      (adapter) => ({
        code: "TLS_FAILED",
        // Deno's node:tls now and then reports the alert before the connect resolved.
        message: adapter === "nodeConnector" && !IS_BUN
          ? new RegExp(
            `^Cannot (set on localhost:${server.port}|complete the TLS handshake with localhost): ` +
              `the server demands a client certificate \\(.+\\)$`,
          )
          : new RegExp(
            `^Cannot set on localhost:${server.port}: the server demands a client certificate \\(.+\\)$`,
          ),
      }),
      (connector) => connectAndSet(connector, `localhost:${server.port}`, tls()),
    );
  }
});

test("error table: a request failing with its connection names the server once, the cause kept", async () => {
  {
    // Reset by the server while the request is pending.
    await using reset = await fakeServer((socket) => {
      socket.on("data", () => socket.resetAndDestroy());
    });
    await row(
      "connection reset during a request",
      () => ({
        code: "CONNECTION_CLOSED",
        message: new RegExp(
          `^Cannot set on ${
            escape(reset.address)
          }: connection reset by the server \\(ECONNRESET\\)$`,
        ),
        causeCode: "ECONNRESET",
      }),
      (connector) => connectAndSet(connector, reset.address),
    );
  }
  {
    await using eof = await fakeServer((socket) => {
      socket.on("data", () => socket.end());
    });
    await row(
      "server closes during a request",
      () => ({
        code: "CONNECTION_CLOSED",
        message: new RegExp(
          `^Cannot set on ${escape(eof.address)}: the server closed the connection$`,
        ),
      }),
      (connector) => connectAndSet(connector, eof.address),
    );
  }
  {
    // The server goes away; the next request reconnects and is refused.
    let address = "";
    await row(
      "server gone, the reconnect refused",
      () => ({
        code: "CONNECT_FAILED",
        message: new RegExp(
          `^Cannot set on ${escape(address)}: connection refused \\(ECONNREFUSED\\)$`,
        ),
        causeCode: "ECONNREFUSED",
      }),
      async (connector) => {
        await using server = await startMemcached();
        address = server.address;
        await using client = await connect(server.address, { ...SHORT, connector });
        await client.set("k", "v");
        server.kill("SIGKILL");
        await within(5_000, "memcached to exit", server.waitExit());
        await waitFor("the client to see the close", () => client.counters().connections === 0);
        try {
          await client.set("k", "v");
        } catch (error) {
          assert.ok(error instanceof MemcachedError);
          // The connection's own error is the cause, in its own words.
          assert.ok(error.cause instanceof MemcachedError, "the connection's error is the cause");
          assert.match(
            error.cause.message,
            new RegExp(
              `^Cannot connect to ${escape(address)}: connection refused \\(ECONNREFUSED\\)$`,
            ),
          );
          throw error;
        }
      },
    );
  }
  {
    // No reply in time: the server is stopped.
    let address = "";
    await row(
      "no reply within the timeout",
      () => ({
        code: "TIMEOUT",
        message: new RegExp(`^Cannot get on ${escape(address)}: no reply within the timeout$`),
      }),
      async (connector) => {
        await using server = await startMemcached();
        address = server.address;
        await using client = await connect(server.address, { ...SHORT, timeout: 200, connector });
        // Only the get's timeout is under test: the set before it must not time out.
        await client.set("k", "v", { timeout: 10_000 });
        server.kill("SIGSTOP");
        try {
          await waitFor("memcached to stop", () => isStopped(server.pid));
          await client.get("k");
        } finally {
          server.kill("SIGCONT");
        }
      },
    );
  }
  {
    // memcached -Y demands ASCII auth; a client without credentials is refused.
    await using file = await makeAuthFile([{ user: "mica", password: "secret" }]);
    await using server = await startMemcached({ args: ["-Y", file.path] });
    // A text store is read as a malformed auth token; a meta one is refused as unauthenticated.
    for (
      const [protocol, answer] of [
        ["text", "bad authentication token format"],
        ["meta", "unauthenticated"],
      ] as const
    ) {
      await row(
        `server demands authentication (${protocol})`,
        () => ({
          code: "AUTH_FAILED",
          message: new RegExp(
            `^Cannot set: the server demands authentication \\(it answered CLIENT_ERROR ${answer}\\)$`,
          ),
        }),
        (connector) => connectAndSet(connector, server.address, { protocol }),
      );
    }
  }
});
