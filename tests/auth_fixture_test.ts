/**
 * The authentication fixtures (`_auth.ts`) against real memcached processes, over raw sockets
 * (no client code), recording exactly what memcached 1.6 answers before, during and after
 * authentication. The binary packets are built by hand here, independent of the codec.
 *
 * What memcached 1.6.18 answers (the client must handle each):
 * - `-S` (SASL; binary protocol only): SASL_AUTH PLAIN with the right password: status 0, body
 *   `Authenticated`; a wrong password: status 0x20, body `Auth failure.`, connection kept open.
 *   Before authentication, VERSION and SASL_LIST_MECHS (`PLAIN`) are answered; any other command
 *   (GET) gets status 0x20 `Auth failure.` and the connection is closed. Text commands are not
 *   answered at all: the connection is closed.
 * - `-Y` (ASCII auth): `set <any> 0 0 <len>\r\n<user> <pass>\r\n` answers `STORED` for the right
 *   credentials, `CLIENT_ERROR authentication failure` for wrong ones and
 *   `CLIENT_ERROR bad authentication token format` without a space. Every other command before
 *   authentication (`mn`, `version`, `get`) answers `CLIENT_ERROR unauthenticated`, and the
 *   connection stays open. A command pipelined right behind a failed auth `set` (in the same
 *   read) leaves ONE reply for both: `CLIENT_ERROR unauthenticated`; a client must wait for the
 *   auth reply before it writes anything else.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createConnection, type Socket } from "node:net";
import { test } from "./_harness.ts";
import { makeAuthFile, makeSaslDb } from "./_auth.ts";
import { type MemcachedServer, startMemcached } from "./_memcached.ts";
import { Waiter } from "./_util.ts";

const USER = "mica";
const PASSWORD = "s3cret-Pass";

// --- raw conversations -----------------------------------------------------------------------

/** A plain socket to a test server whose replies accumulate in `received`. */
class RawConn implements AsyncDisposable {
  received: Buffer = Buffer.alloc(0);
  isClosed = false;
  readonly #socket: Socket;
  readonly #closed: Promise<void>;
  readonly #waiter = new Waiter();

  constructor(server: MemcachedServer) {
    this.#socket = createConnection({ host: server.host, port: server.port });
    this.#socket.on("data", (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.#waiter.wake();
    });
    this.#socket.on("error", () => {});
    this.#closed = new Promise((resolve) => {
      this.#socket.once("close", () => {
        this.isClosed = true;
        this.#waiter.wake();
        resolve();
      });
    });
  }

  send(bytes: Uint8Array | string): void {
    this.#socket.write(bytes);
  }

  /** Waits until `predicate` holds (checked on every chunk and on close); fails after 5 s. */
  async until(what: string, predicate: () => boolean): Promise<void> {
    const failure = () =>
      `Waited for ${what}; received ${JSON.stringify(this.text())}` +
      (this.isClosed ? " and the connection closed" : "");
    // A closed connection receives nothing more: stop waiting then too.
    await this.#waiter.until(() => predicate() || this.isClosed, failure);
    if (!predicate()) assert.fail(failure());
  }

  /** Waits for `count` complete text lines and returns all received text. */
  async lines(count: number): Promise<string> {
    await this.until(`${count} lines`, () => this.text().split("\r\n").length > count);
    return this.text();
  }

  /** Waits for the server to close the connection. */
  async closedByServer(): Promise<void> {
    await this.until("the server to close the connection", () => this.isClosed);
  }

  text(): string {
    return this.received.toString("latin1");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#socket.destroy();
    await this.#closed;
  }
}

// --- binary protocol packets, by hand ------------------------------------------------------------

const OP_GET = 0x00;
const OP_VERSION = 0x0b;
const OP_SASL_LIST_MECHS = 0x20;
const OP_SASL_AUTH = 0x21;
const STATUS_OK = 0x0000;
const STATUS_KEY_NOT_FOUND = 0x0001;
const STATUS_AUTH_ERROR = 0x0020;

/** A binary request: 24-byte header (magic 0x80), then key and value. */
function request(opcode: number, key = "", value: Uint8Array = new Uint8Array(0)): Buffer {
  const keyBytes = Buffer.from(key, "latin1");
  const header = Buffer.alloc(24);
  header[0] = 0x80;
  header[1] = opcode;
  header.writeUInt16BE(keyBytes.length, 2);
  header.writeUInt32BE(keyBytes.length + value.length, 8);
  header.writeUInt32BE(0x01020304, 12); // opaque
  return Buffer.concat([header, keyBytes, value]);
}

/** SASL_AUTH with mechanism PLAIN: key `PLAIN`, value `\0user\0password`. */
function saslPlain(user: string, password: string): Buffer {
  return request(OP_SASL_AUTH, "PLAIN", Buffer.from(`\0${user}\0${password}`, "utf8"));
}

/** One binary response from the start of `bytes`, or `undefined` if it is not complete yet. */
function response(bytes: Buffer): { opcode: number; status: number; body: string } | undefined {
  if (bytes.length < 24) return undefined;
  const bodyLength = bytes.readUInt32BE(8);
  if (bytes.length < 24 + bodyLength) return undefined;
  assert.equal(bytes[0], 0x81, "response magic");
  assert.equal(bytes.readUInt32BE(12), 0x01020304, "opaque echoed");
  return {
    opcode: bytes[1]!,
    status: bytes.readUInt16BE(6),
    body: bytes.subarray(24, 24 + bodyLength).toString("latin1"),
  };
}

/** Sends `packet` and waits for the one response. */
async function roundTrip(
  conn: RawConn,
  packet: Buffer,
): Promise<{ opcode: number; status: number; body: string }> {
  const start = conn.received.length;
  conn.send(packet);
  await conn.until(
    "a binary response",
    () => response(conn.received.subarray(start)) !== undefined,
  );
  return response(conn.received.subarray(start))!;
}

// --- SASL (-S) -----------------------------------------------------------------------------------

test("makeSaslDb() lets memcached -S accept SASL PLAIN with the right password", async () => {
  await using sasl = await makeSaslDb(USER, PASSWORD);
  await using server = await startMemcached({ args: ["-S"], env: sasl.env });
  await using conn = new RawConn(server);
  const mechs = await roundTrip(conn, request(OP_SASL_LIST_MECHS));
  assert.deepEqual(mechs, { opcode: OP_SASL_LIST_MECHS, status: STATUS_OK, body: "PLAIN" });
  const auth = await roundTrip(conn, saslPlain(USER, PASSWORD));
  assert.deepEqual(auth, { opcode: OP_SASL_AUTH, status: STATUS_OK, body: "Authenticated" });
  // Authenticated: a GET is served (a miss), not refused.
  const get = await roundTrip(conn, request(OP_GET, "missing"));
  assert.equal(get.status, STATUS_KEY_NOT_FOUND);
});

test("makeSaslDb() makes memcached -S refuse a wrong password with status 0x20", async () => {
  await using sasl = await makeSaslDb(USER, PASSWORD);
  await using server = await startMemcached({ args: ["-S"], env: sasl.env });
  await using conn = new RawConn(server);
  const auth = await roundTrip(conn, saslPlain(USER, "wrong"));
  assert.deepEqual(auth, {
    opcode: OP_SASL_AUTH,
    status: STATUS_AUTH_ERROR,
    body: "Auth failure.",
  });
  const unknown = await roundTrip(conn, saslPlain("nobody", PASSWORD));
  assert.equal(unknown.status, STATUS_AUTH_ERROR);
  // The connection stays open after a failed auth, and a retry with the right password works.
  const retry = await roundTrip(conn, saslPlain(USER, PASSWORD));
  assert.equal(retry.status, STATUS_OK);
});

test("memcached -S answers VERSION before auth but refuses GET and closes", async () => {
  await using sasl = await makeSaslDb(USER, PASSWORD);
  await using server = await startMemcached({ args: ["-S"], env: sasl.env });
  await using conn = new RawConn(server);
  const version = await roundTrip(conn, request(OP_VERSION));
  assert.equal(version.status, STATUS_OK);
  assert.match(version.body, /^\d+\.\d+\.\d+/);
  const get = await roundTrip(conn, request(OP_GET, "k"));
  assert.deepEqual(get, { opcode: OP_GET, status: STATUS_AUTH_ERROR, body: "Auth failure." });
  await conn.closedByServer();
});

test("memcached -S closes a connection that speaks the text protocol, without a reply", async () => {
  await using sasl = await makeSaslDb(USER, PASSWORD);
  await using server = await startMemcached({ args: ["-S"], env: sasl.env });
  await using conn = new RawConn(server);
  // 24 bytes or more, so that memcached reads a whole "header" and sees a bad magic byte.
  conn.send("version\r\nmn\r\nget some-key-to-pad\r\n");
  await conn.closedByServer();
  assert.equal(conn.received.length, 0);
});

// --- ASCII auth (-Y) -----------------------------------------------------------------------------

test("makeAuthFile() lets memcached -Y store the auth set for the right credentials", async () => {
  await using auth = await makeAuthFile([{ user: USER, password: PASSWORD }, {
    user: "other",
    password: "x",
  }]);
  await using server = await startMemcached({ args: ["-Y", auth.path] });
  await using conn = new RawConn(server);
  const token = `${USER} ${PASSWORD}`;
  conn.send(`set auth 0 0 ${token.length}\r\n${token}\r\nversion\r\nmn\r\n`);
  assert.match(await conn.lines(3), /^STORED\r\nVERSION \d+\.\d+\.\d+\r\nMN\r\n$/);
});

test("memcached -Y refuses wrong credentials and any command before auth", async () => {
  await using auth = await makeAuthFile([{ user: USER, password: PASSWORD }]);
  await using server = await startMemcached({ args: ["-Y", auth.path] });
  await using conn = new RawConn(server);
  conn.send("mn\r\n");
  assert.equal(await conn.lines(1), "CLIENT_ERROR unauthenticated\r\n");
  conn.send("version\r\n");
  assert.equal(await conn.lines(2), "CLIENT_ERROR unauthenticated\r\n".repeat(2));
  conn.send("set a 0 0 10\r\nmica wrong\r\n");
  await conn.lines(3);
  conn.send("set a 0 0 4\r\nmica\r\n");
  const text = await conn.lines(4);
  assert.equal(
    text,
    "CLIENT_ERROR unauthenticated\r\n".repeat(2) +
      "CLIENT_ERROR authentication failure\r\n" +
      "CLIENT_ERROR bad authentication token format\r\n",
  );
  // Still open: the right credentials work on the same connection.
  const token = `${USER} ${PASSWORD}`;
  conn.send(`set a 0 0 ${token.length}\r\n${token}\r\nmn\r\n`);
  assert.match(await conn.lines(6), /STORED\r\nMN\r\n$/);
  assert.equal(conn.isClosed, false);
});

test("memcached -Y gives one reply for a failed auth and the command pipelined behind it", async () => {
  await using auth = await makeAuthFile([{ user: USER, password: PASSWORD }]);
  await using server = await startMemcached({ args: ["-Y", auth.path] });
  await using conn = new RawConn(server);
  conn.send("set a 0 0 10\r\nmica wrong\r\nmn\r\n");
  await conn.lines(1);
  // Written after the first reply arrived, so its replies cannot merge with the first pair's.
  const token = `${USER} ${PASSWORD}`;
  conn.send(`set a 0 0 ${token.length}\r\n${token}\r\nmn\r\n`);
  assert.equal(await conn.lines(3), "CLIENT_ERROR unauthenticated\r\nSTORED\r\nMN\r\n");
});
