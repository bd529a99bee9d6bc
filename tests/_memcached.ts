/**
 * Runs real memcached processes from tests, under Deno and Bun alike.
 *
 * Everything here uses `node:` modules only (`node:child_process`, `node:net`, `node:fs`), which
 * both runtimes provide. A server started and stopped inside one test leaves no timer, socket,
 * pipe or child process behind, so the test passes `deno test --sanitize-ops
 * --sanitize-resources`; a server that is not stopped fails it, which is the point.
 *
 * Each server gets its own free loopback port (or unix socket in a fresh temp directory), runs
 * `/usr/bin/memcached -U 0 -t 2 -m 64 -u root` and is ready when it answers `stats` with its
 * own pid (so a foreign server that already holds the port is never mistaken for it).
 *
 * Servers that do not answer a plain `stats` on their port are supported too:
 * - TLS (`tls` option, memcached `-Z`): a second, plain listener `-l notls:127.0.0.1:<port>`
 *   ({@linkcode MemcachedServer.plainPort}) takes the readiness `stats` and
 *   {@linkcode rawCommand}s.
 * - SASL (`-S`, binary protocol only, every command but a few refused before auth) and ASCII
 *   auth (`-Y`, every command refused before auth): readiness `"listening"` checks in `/proc`
 *   that the socket listening on the port (or socket path) belongs to our process, which is as
 *   strong as the `stats` pid check and needs no protocol at all.
 *
 * @example Start a server for one test
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { test } from "./_harness.ts";
 * import { rawCommand, startMemcached } from "./_memcached.ts";
 *
 * test("memcached answers a meta no-op", async () => {
 *   await using server = await startMemcached();
 *   assert.equal(await rawCommand(server, ""), "");
 * });
 * ```
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import process from "node:process";
import { sleep, waitFor } from "./_util.ts";

/** Path of the memcached binary (Debian package `memcached`). */
export const MEMCACHED_BIN = "/usr/bin/memcached";

/** Options of {@linkcode startMemcached} and {@linkcode withMemcached}. */
export interface StartMemcachedOptions {
  /**
   * Listen on a unix socket in a fresh temp directory instead of TCP. memcached then turns its
   * network listener off: connect through {@linkcode MemcachedServer.socketPath}.
   *
   * @default {false}
   */
  unixSocket?: boolean;
  /**
   * Extra memcached arguments, appended after the defaults (so `["-m", "8"]` overrides `-m 64`).
   *
   * @default {[]}
   */
  args?: string[];
  /**
   * TCP port to listen on. Without it a free loopback port is picked, and picked again if
   * memcached cannot bind it.
   *
   * @default {undefined}
   */
  port?: number;
  /**
   * Environment variables added to this process's environment for memcached (for example
   * `SASL_CONF_PATH` for `-S`). Without it memcached inherits the environment unchanged.
   *
   * @default {undefined}
   */
  env?: Readonly<Record<string, string>>;
  /**
   * Serve TLS on {@linkcode MemcachedServer.port} (`-Z -o ssl_chain_cert=...`), plus a plain
   * listener on {@linkcode MemcachedServer.plainPort}. Not with `unixSocket`.
   *
   * @default {undefined}
   */
  tls?: MemcachedTlsOptions;
  /**
   * How to tell that memcached is ready: `"stats"` sends `stats` (on the plain listener under
   * TLS) and waits for our pid in the reply; `"listening"` waits until `/proc` shows our process
   * listening on the port or socket path, for servers that refuse `stats` before authentication.
   *
   * @default {"listening"} when `args` turn on SASL (`-S`) or ASCII auth (`-Y`), else `"stats"`
   */
  readiness?: "stats" | "listening";
}

/** TLS settings of a test server (memcached `-Z` and its `ssl_*` options). */
export interface MemcachedTlsOptions {
  /** PEM file of the server's certificate chain (`ssl_chain_cert`). */
  certFile: string;
  /** PEM file of the server's private key (`ssl_key`). */
  keyFile: string;
  /**
   * PEM file of the CAs whose client certificates are accepted (`ssl_ca_cert`).
   *
   * @default {undefined}
   */
  caFile?: string;
  /**
   * Client certificate check (`ssl_verify_mode`): 0 none, 1 request, 2 require, 3 once.
   *
   * @default {0}
   */
  verifyMode?: 0 | 1 | 2 | 3;
}

/** A running (or stopped) memcached process started by {@linkcode startMemcached}. */
export interface MemcachedServer {
  /** Always the loopback address. */
  readonly host: "127.0.0.1";
  /** The TCP port (reserved but not listened on when {@linkcode socketPath} is set). */
  readonly port: number;
  /** `"127.0.0.1:PORT"`. */
  readonly address: string;
  /** The unix socket path, when started with `unixSocket: true`. */
  readonly socketPath?: string;
  /**
   * With `tls`: the port of the plain (non-TLS) listener, used by {@linkcode rawCommand} and the
   * readiness check. Otherwise `undefined`.
   */
  readonly plainPort?: number;
  /** The process id of the current memcached process (changes on {@linkcode restart}). */
  readonly pid: number;
  /**
   * Stops memcached with `SIGKILL` (a test server holds nothing worth a graceful shutdown, and
   * memcached only notices `SIGTERM` once a second), then waits for exit and removes the temp
   * directory. Resolves
   * also when the process is already gone (for example after `kill("SIGKILL")`). Idempotent.
   */
  stop(): Promise<void>;
  /** Sends a signal to the memcached process; does nothing once it has exited. */
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the memcached process has exited (at once if it already has). */
  waitExit(): Promise<void>;
  /**
   * Starts memcached again on the same port (and socket path) and waits until it accepts
   * connections. A still-running process is stopped first.
   */
  restart(): Promise<void>;
  /** Same as {@linkcode stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 5_000;
const READY_POLL_MS = 20;
const KILL_AFTER_MS = 2_000;
const PORT_ATTEMPTS = 5;
const STDERR_LIMIT = 8_192;
/** memcached arguments that turn on authentication, so that `stats` is refused before it. */
const AUTH_ARG = /^(-S|--enable-sasl|-Y.*|--auth-file(=.*)?)$/;

/** Processes not yet exited; killed when the test process exits so none outlive a crash. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killLeftovers(): void {
  for (const child of live) {
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
}

/**
 * Starts a memcached process and waits until it accepts connections.
 *
 * @param options Unix socket, extra arguments or a fixed port.
 * @returns The running server; stop it (or `await using` it) before the test ends.
 * @throws {Error} If memcached exits early or does not accept connections within 5 s.
 */
export async function startMemcached(
  options: StartMemcachedOptions = {},
): Promise<MemcachedServer> {
  if (options.tls !== undefined && options.unixSocket === true) {
    throw new TypeError("Cannot start memcached: TLS needs a TCP listener, not unixSocket");
  }
  const socketDir = options.unixSocket === true
    ? mkdtempSync(join(tmpdir(), "mica-memcached-"))
    : undefined;
  const extraArgs = options.args ?? [];
  const readiness = options.readiness ??
    (extraArgs.some((arg) => AUTH_ARG.test(arg)) ? "listening" : "stats");
  let lastError: unknown;
  const attempts = options.port === undefined ? PORT_ATTEMPTS : 1;
  for (let attempt = 0; attempt < attempts; attempt++) {
    let port: number;
    try {
      port = options.port ?? await pickFreePort();
    } catch (error) {
      lastError = error;
      continue;
    }
    let plainPort: number | undefined;
    if (options.tls !== undefined) {
      try {
        plainPort = await pickFreePort();
        if (plainPort === port) throw new Error(`port ${port} was picked twice`);
      } catch (error) {
        lastError = error;
        continue;
      }
    }
    const server = new MemcachedProcess({
      port,
      plainPort,
      socketDir,
      extraArgs,
      env: options.env,
      tls: options.tls,
      readiness,
    });
    try {
      await server.restart();
      return server;
    } catch (error) {
      lastError = error;
      await server.stopProcess();
      if (!server.lostPortRace) break;
    }
  }
  if (socketDir !== undefined) rmSync(socketDir, { recursive: true, force: true });
  throw new Error(`Cannot start memcached: ${describe(lastError)}`, { cause: lastError });
}

/**
 * Runs `fn` with a fresh memcached server and always stops the server afterwards.
 *
 * @param fn The code that uses the server.
 * @param options As for {@linkcode startMemcached}.
 */
export async function withMemcached(
  fn: (server: MemcachedServer) => Promise<void>,
  options: StartMemcachedOptions = {},
): Promise<void> {
  const server = await startMemcached(options);
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

/**
 * Counts this process's open file descriptors (entries of `/proc/self/fd`, Linux only). Used
 * by Bun tests, which have no resource sanitizer, to check that nothing leaked.
 *
 * @returns The number of open descriptors, including the one used to read the directory.
 */
export function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/**
 * Of the descriptors a spawn opened, the one of the child's stderr: a pipe (Deno) or a unix
 * socket pair (Bun), not a TCP socket another thread of the runtime happened to open meanwhile.
 */
function stderrPipe(opened: readonly string[]): string | undefined {
  const pipe = opened.find((fd) => / pipe:\[\d+\]$/.test(fd));
  if (pipe !== undefined) return pipe;
  const unixInodes = new Set(
    readFileSync("/proc/net/unix", "utf8").split("\n").slice(1).map((line) =>
      line.trim().split(/\s+/)[6]
    ),
  );
  return opened.find((fd) => unixInodes.has(/ socket:\[(\d+)\]$/.exec(fd)?.[1]));
}

/** This process's open file descriptors, each as `"<fd> <target>"` (Linux only). */
function openFds(): Set<string> {
  const fds = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      fds.add(`${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // Closed while we looked (such as the descriptor of the listing itself).
    }
  }
  return fds;
}

/**
 * Waits until at most `atMost` file descriptors are open, for leak checks under Bun, which
 * closes some descriptors (sockets, child pipes) a little after `destroy()` or exit.
 *
 * @param atMost The count to wait for, usually {@linkcode openFdCount} taken before the work.
 * @param timeout Milliseconds to wait at most.
 * @returns The last count seen: `<= atMost` unless the timeout passed first.
 */
export async function settledFdCount(atMost: number, timeout = 2_000): Promise<number> {
  const deadline = Date.now() + timeout;
  let count = openFdCount();
  while (count > atMost && Date.now() < deadline) {
    await sleep(READY_POLL_MS);
    count = openFdCount();
  }
  return count;
}

/** Options of {@linkcode rawCommand}. */
export interface RawCommandOptions {
  /**
   * Milliseconds to wait for the whole reply.
   *
   * @default {5_000}
   */
  timeout?: number;
}

/**
 * Talks to memcached without the client under test: opens a plain socket, writes `bytes`
 * followed by `mn\r\n`, reads until the reply ends with `MN\r\n` and closes the socket. A TLS
 * server is reached through its plain listener ({@linkcode MemcachedServer.plainPort}).
 *
 * A reply whose data ends in `MN\r\n` exactly at a read boundary would be cut short there;
 * avoid values that end in `\r\nMN` in raw commands.
 *
 * @param server The server to talk to (its unix socket if it has one, else TCP).
 * @param bytes Commands to send, each ending in `\r\n` (UTF-8 encoded).
 * @param options Reply timeout.
 * @returns Everything memcached answered before `MN\r\n`, decoded as UTF-8.
 * @throws {Error} If the connection fails or closes, or the reply does not end in time.
 */
export async function rawCommand(
  server: MemcachedServer,
  bytes: string,
  options: RawCommandOptions = {},
): Promise<string> {
  const reply = await exchange(
    plainTarget(server),
    `${bytes}mn\r\n`,
    "MN\r\n",
    options.timeout ?? 5_000,
  );
  return reply.slice(0, -"MN\r\n".length);
}

/** The remaining TTL of `key` as memcached reports it (`mg <key> t`); -1 means no expiry. */
export async function remainingTtl(server: MemcachedServer, key: string): Promise<number> {
  const reply = await rawCommand(server, `mg ${key} t\r\n`);
  const match = /^HD t(-?\d+)\r\n$/.exec(reply);
  if (!match) throw new Error(`mg ${key} t answered ${JSON.stringify(reply)}`);
  return Number(match[1]);
}

/** What {@linkcode ttlAfter} read: a TTL and memcached's clock when it was read. */
export interface TtlReading {
  /** The remaining TTL in seconds, as {@linkcode remainingTtl} reads it. */
  ttl: number;
  /** memcached's clock (its `time` stat, Unix seconds): an expiry time is `clock + ttl`. */
  clock: number;
}

/**
 * Runs `write` (a store of `key`), then reads the TTL memcached gives `key` and memcached's
 * clock, again (at most 5 times) while that clock ticked in between. memcached counts TTLs
 * down in whole seconds of its own clock, which ticks once a second (late, on a busy machine),
 * so only a reading within one tick shows the TTL exactly as it was set.
 *
 * @throws {Error} If the clock ticked during every try.
 */
export async function ttlAfter(
  server: MemcachedServer,
  key: string,
  write: () => Promise<unknown>,
): Promise<TtlReading> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const clock = await serverStat(server, "time");
    await write();
    const ttl = await remainingTtl(server, key);
    if (await serverStat(server, "time") === clock) return { ttl, clock };
  }
  throw new Error(`Cannot read the TTL of ${key}: memcached's clock ticked during every try`);
}

/** The server's general statistics, read with {@linkcode rawCommand} (not the client under test). */
export async function rawStats(server: MemcachedServer): Promise<Map<string, string>> {
  const reply = await rawCommand(server, "stats\r\n");
  const stats = new Map<string, string>();
  for (const line of reply.split("\r\n")) {
    const match = /^STAT (\S+) (.*)$/.exec(line);
    if (match) stats.set(match[1]!, match[2]!);
  }
  return stats;
}

/** One numeric general statistic of the server, read with {@linkcode rawStats}. */
export async function serverStat(server: MemcachedServer, name: string): Promise<number> {
  const value = (await rawStats(server)).get(name);
  if (value === undefined || !/^\d+$/.test(value)) {
    throw new Error(`Cannot read stat ${name}: the server answered ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** Where to connect: the unix socket if there is one, else TCP. */
/** Where a test server listens. */
export interface Target {
  readonly host: string;
  readonly port: number;
  readonly socketPath?: string | undefined;
}

/** The unix socket, else the plain listener of a TLS server, else the TCP port. */
function plainTarget(server: MemcachedServer): Target {
  return {
    host: server.host,
    port: server.plainPort ?? server.port,
    socketPath: server.socketPath,
  };
}

/** Writes `payload` on a fresh connection and reads until the reply ends with `terminator`. */
function exchange(
  target: Target,
  payload: string,
  terminator: string,
  timeout: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let tail = "";
    let settled = false;
    const socket: Socket = target.socketPath === undefined
      ? createConnection({ host: target.host, port: target.port })
      : createConnection({ path: target.socketPath });
    const finish = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const reply = Buffer.concat(chunks).toString("utf8");
      if (error === undefined) {
        resolve(reply);
      } else {
        reject(new Error(`${error.message}; received ${JSON.stringify(reply)}`, { cause: error }));
      }
    };
    const timer = setTimeout(
      () =>
        finish(
          new Error(`Cannot read reply: no ${JSON.stringify(terminator)} within ${timeout} ms`),
        ),
      timeout,
    );
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      tail = (tail + chunk.toString("latin1")).slice(-terminator.length);
      if (tail === terminator) finish(undefined);
    });
    socket.once("error", (error) => finish(new Error(`Cannot read reply: ${error.message}`)));
    socket.once("close", () => finish(new Error("Cannot read reply: connection closed")));
    socket.write(payload);
  });
}

/** What {@linkcode MemcachedProcess} is started with. */
interface ProcessConfig {
  readonly port: number;
  readonly plainPort: number | undefined;
  readonly socketDir: string | undefined;
  readonly extraArgs: readonly string[];
  readonly env: Readonly<Record<string, string>> | undefined;
  readonly tls: MemcachedTlsOptions | undefined;
  readonly readiness: "stats" | "listening";
}

/** One memcached process slot: a fixed port and socket path, restartable. */
class MemcachedProcess implements MemcachedServer {
  readonly host = HOST;
  readonly port: number;
  readonly address: string;
  readonly socketPath?: string;
  readonly plainPort?: number;
  readonly #socketDir: string | undefined;
  readonly #args: string[];
  readonly #env: Readonly<Record<string, string>> | undefined;
  readonly #readiness: "stats" | "listening";
  #child: ChildProcess | undefined;
  /** The stderr pipe's descriptor in this process, as `"<fd> <target>"`, once spawned. */
  #pipe: string | undefined = undefined;
  #exited: Promise<void> = Promise.resolve();
  #running = false;
  #stderr = "";

  constructor(config: ProcessConfig) {
    const { port, plainPort, socketDir, tls } = config;
    this.port = port;
    this.address = `${HOST}:${port}`;
    this.#socketDir = socketDir;
    this.#env = config.env;
    this.#readiness = config.readiness;
    const args = ["-l", HOST, "-p", String(port), "-U", "0", "-t", "2", "-m", "64", "-u", "root"];
    if (socketDir !== undefined) {
      this.socketPath = join(socketDir, "memcached.sock");
      args.push("-s", this.socketPath, "-a", "0600");
    }
    if (tls !== undefined && plainPort !== undefined) {
      this.plainPort = plainPort;
      const settings = [`ssl_chain_cert=${tls.certFile}`, `ssl_key=${tls.keyFile}`];
      if (tls.caFile !== undefined) settings.push(`ssl_ca_cert=${tls.caFile}`);
      if (tls.verifyMode !== undefined) settings.push(`ssl_verify_mode=${tls.verifyMode}`);
      // Several -l options add listeners; "notls:" keeps this one plain.
      args.push("-l", `notls:${HOST}:${plainPort}`, "-Z", "-o", settings.join(","));
    }
    this.#args = [...args, ...config.extraArgs];
  }

  /** True when memcached failed because its port was taken (so another port may work). */
  get lostPortRace(): boolean {
    return /Address already in use/.test(this.#stderr);
  }

  get pid(): number {
    return this.#child?.pid ?? -1;
  }

  kill(signal: NodeJS.Signals): void {
    // Not ChildProcess.kill(): under Deno it closes the stdio pipes and ignores later calls,
    // so SIGSTOP followed by SIGCONT would be lost.
    const pid = this.#child?.pid;
    if (!this.#running || pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch (error) {
      // The process died and was reaped before its "exit" event reached us.
      if ((error as { code?: string }).code !== "ESRCH") throw error;
    }
  }

  waitExit(): Promise<void> {
    return this.#exited;
  }

  async stop(): Promise<void> {
    await this.stopProcess();
    if (this.#socketDir !== undefined) rmSync(this.#socketDir, { recursive: true, force: true });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async restart(): Promise<void> {
    await this.stopProcess();
    if (this.#socketDir !== undefined) mkdirSync(this.#socketDir, { recursive: true });
    this.#spawn();
    await this.#waitReady();
  }

  /**
   * Ends the process (KILL; a second KILL after 2 s should the first be lost) and waits for it
   * to exit and for its stderr pipe to be closed in this process.
   */
  async stopProcess(): Promise<void> {
    if (this.#running) {
      this.kill("SIGKILL");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killLater = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.kill("SIGKILL");
          resolve();
        }, KILL_AFTER_MS);
      });
      try {
        await Promise.race([this.#exited, killLater]);
      } finally {
        clearTimeout(timer);
      }
    }
    await this.#exited;
    // Bun at times closes the stderr pipe (a socket pair there) a little after the "close"
    // event; a leak check counting descriptors meanwhile would see one closed under it.
    const pipe = this.#pipe;
    this.#pipe = undefined;
    if (pipe !== undefined) {
      await waitFor(
        `the stderr pipe of memcached ${this.pid} to close`,
        () => !openFds().has(pipe),
      );
    }
  }

  #spawn(): void {
    this.#stderr = "";
    const before = openFds();
    const child = spawn(MEMCACHED_BIN, this.#args, {
      stdio: ["ignore", "ignore", "pipe"],
      ...(this.#env === undefined ? {} : { env: { ...process.env, ...this.#env } }),
    });
    this.#pipe = stderrPipe([...openFds()].filter((fd) => !before.has(fd)));
    this.#child = child;
    this.#running = true;
    live.add(child);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once("exit", killLeftovers);
    }
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (text: string) => {
      if (this.#stderr.length < STDERR_LIMIT) this.#stderr += text;
    });
    // "close" fires after the process exited and its stderr pipe closed, so nothing is left open.
    this.#exited = new Promise<void>((resolve) => {
      child.once("close", () => {
        live.delete(child);
        this.#running = false;
        resolve();
      });
      child.once("error", (error) => {
        this.#stderr += `spawn failed: ${error.message}`;
        if (child.pid === undefined) {
          live.delete(child);
          this.#running = false;
          resolve();
        }
      });
    });
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (!this.#running) {
        throw new Error(
          `memcached ${this.#args.join(" ")} exited before it was ready: ${this.#stderr.trim()}`,
        );
      }
      if (await this.#isServing()) return;
      await sleep(READY_POLL_MS);
    }
    throw new Error(
      `memcached ${this.#args.join(" ")} was not ready within ${READY_TIMEOUT_MS} ms`,
    );
  }

  /**
   * True when our process answers `stats` (not another server that owns the port), or, with
   * readiness `"listening"`, when our process holds the listening socket.
   */
  async #isServing(): Promise<boolean> {
    if (this.#readiness === "listening") return listensOn(this.pid, this);
    try {
      const stats = await exchange(plainTarget(this), "stats\r\n", "END\r\n", READY_TIMEOUT_MS);
      return `\r\n${stats}`.includes(`\r\nSTAT pid ${this.pid}\r\n`);
    } catch {
      return false;
    }
  }
}

/**
 * Whether process `pid` holds a socket listening on `target` (its unix socket path if it has
 * one, else `127.0.0.1:port`): the inode of a listening socket in `/proc/net/tcp` (or
 * `/proc/net/unix`) must be one of the process's `/proc/PID/fd` links. Linux only.
 */
export function listensOn(pid: number, target: Target): boolean {
  const inodes = new Set<string>();
  try {
    if (target.socketPath === undefined) {
      // "sl local_address rem_address st ... inode": 127.0.0.1 is 0100007F, LISTEN is 0A.
      const local = `0100007F:${target.port.toString(16).toUpperCase().padStart(4, "0")}`;
      for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
        const fields = line.trim().split(/\s+/);
        if (fields[1] === local && fields[3] === "0A" && fields[9] !== undefined) {
          inodes.add(fields[9]);
        }
      }
    } else {
      // "Num RefCount Protocol Flags Type St Inode Path": flag 00010000 is __SO_ACCEPTCON.
      for (const line of readFileSync("/proc/net/unix", "utf8").split("\n").slice(1)) {
        const fields = line.trim().split(/\s+/);
        if (fields[7] === target.socketPath && fields[3] === "00010000" && fields[6]) {
          inodes.add(fields[6]);
        }
      }
    }
    if (inodes.size === 0) return false;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // Closed while we looked.
      }
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode !== undefined && inodes.has(inode)) return true;
    }
  } catch {
    // The process exited (no /proc/PID/fd): not ready; the caller sees it has exited.
  }
  return false;
}

/**
 * Binds `127.0.0.1:0`, reads the port the kernel chose, and releases it: a loopback port that
 * nothing listens on (until someone binds it).
 */
export function pickFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => port > 0 ? resolve(port) : reject(new Error("no port assigned")));
    });
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
