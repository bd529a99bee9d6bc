/**
 * The `mica` command line as a user runs it: a subprocess of the runtime running the tests
 * (`deno run -A src/cli.ts` or `bun src/cli.ts`) against a real memcached, checking stdout,
 * stderr and the exit code of every command, the usage errors, a refused connection, `watch`
 * frames while traffic flows, `bench` with its progress bar, and Ctrl-C.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { test } from "./_harness.ts";
import { type MemcachedServer, rawCommand, startMemcached } from "./_memcached.ts";
import { IS_BUN } from "./_util.ts";
import { connect } from "../mod.ts";

const CLI = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const BIN = fileURLToPath(new URL("../node_modules/.bin/", import.meta.url));
const COMMAND = IS_BUN ? [`${BIN}bun`, CLI] : [`${BIN}deno`, "run", "-A", CLI];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `mica args...`; `input` is written to its stdin (which is then closed). */
function start(args: string[], input = ""): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(COMMAND[0]!, [...COMMAND.slice(1), ...args], {
    env: { ...process.env, NO_COLOR: "1", MEMCACHE_SERVERS: "" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (text: string) => stdout += text);
  child.stderr!.setEncoding("utf8").on("data", (text: string) => stderr += text);
  child.stdin!.end(input);
  const done = new Promise<Run>((resolve) => {
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

function mica(args: string[], input = ""): Promise<Run> {
  return start(args, input).done;
}

/** `mica -s <server> ...`. */
function on(server: MemcachedServer, ...args: string[]): Promise<Run> {
  return mica(["-s", server.address, ...args]);
}

test("mica: --help, --version, and usage errors exit 2 with a message on stderr", async () => {
  const help = await mica(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: mica \[options\] <command>/);
  assert.deepEqual(await mica(["--version"]), {
    code: 0,
    signal: null,
    stdout: "mica 0.1.0\n",
    stderr: "",
  });
  const cases: Array<[string[], RegExp]> = [
    [[], /^Usage: mica/],
    [["bogus"], /^mica: unknown command "bogus" \(see mica --help\)\n$/],
    [["get"], /^mica: get takes <key> \(see mica --help\)\n$/],
    [["set", "k"], /^mica: set takes <key> <value\|->/],
    [["--nope", "get", "k"], /^mica: Unknown option '--nope'/],
    [["-t", "x", "get", "k"], /--timeout must be an integer of at least 1, not "x"/],
    [
      ["-p", "carrier-pigeon", "get", "k"],
      /protocol.*"carrier-pigeon" is not one of meta, text, binary \[INVALID_ARGUMENT\]/,
    ],
    [["get", "bad key"], /the key holds a space at index 3 \[INVALID_KEY\]\n$/],
  ];
  for (const [args, stderr] of cases) {
    const run = await mica(["-s", "127.0.0.1:1", ...args]);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.equal(run.stdout, "", args.join(" "));
    assert.match(run.stderr, stderr, args.join(" "));
  }
});

test("mica: a refused connection exits 3 with the error code", async () => {
  const run = await mica(["-s", "127.0.0.1:1", "--timeout", "500", "get", "k"]);
  assert.equal(run.code, 3);
  assert.equal(run.stdout, "");
  assert.equal(
    run.stderr,
    "mica: Cannot get on 127.0.0.1:1: connection refused (ECONNREFUSED) [CONNECT_FAILED]\n",
  );
});

test("mica: get, set (from an argument and stdin), delete, touch, incr, decr, flush", async () => {
  await using server = await startMemcached();
  assert.deepEqual(await on(server, "set", "k", "héllo"), {
    code: 0,
    signal: null,
    stdout: "",
    stderr: "",
  });
  assert.deepEqual(await on(server, "get", "k"), {
    code: 0,
    signal: null,
    stdout: "héllo",
    stderr: "",
  });
  const miss = await on(server, "get", "missing");
  assert.deepEqual([miss.code, miss.stdout, miss.stderr], [1, "", ""]);

  const bytes = "line 1\nline 2\r\n\u0000end";
  const piped = await mica(["-s", server.address, "set", "piped", "-", "--ttl", "300"], bytes);
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal((await on(server, "get", "piped")).stdout, bytes);
  const ttl = await rawCommand(server, "mg piped t\r\n");
  assert.match(ttl, /^HD t(29\d|300)\r\n$/, "--ttl reached memcached");

  assert.equal((await on(server, "touch", "piped", "60")).code, 0);
  assert.match(await rawCommand(server, "mg piped t\r\n"), /^HD t(5\d|60)\r\n$/);
  assert.equal((await on(server, "touch", "missing", "60")).code, 1);

  assert.equal((await on(server, "incr", "n")).code, 1, "incr of a missing key");
  await on(server, "set", "n", "40");
  assert.deepEqual([(await on(server, "incr", "n", "2")).stdout], ["42\n"]);
  assert.deepEqual([(await on(server, "decr", "n")).stdout], ["41\n"]);
  assert.equal((await on(server, "incr", "n", "-1")).code, 2, "a negative delta is a usage error");

  assert.equal((await on(server, "delete", "k")).code, 0);
  assert.equal((await on(server, "delete", "k")).code, 1);
  assert.equal((await on(server, "flush")).code, 0);
  assert.equal((await on(server, "get", "piped")).code, 1, "flushed");
});

test("mica: stats and version per server, as text and JSON", async () => {
  await using a = await startMemcached();
  await using b = await startMemcached();
  const list = `${a.address},${b.address}`;
  const versions = await mica(["-s", list, "--json", "version"]);
  assert.equal(versions.code, 0, versions.stderr);
  const parsed = JSON.parse(versions.stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(parsed), [a.address, b.address]);
  for (const v of Object.values(parsed)) assert.match(v, /^\d+\.\d+\.\d+/);

  const stats = await mica(["-s", list, "--json", "stats"]);
  const all = JSON.parse(stats.stdout) as Record<string, Record<string, string>>;
  assert.equal(Number(all[a.address]!.pid), a.pid);
  assert.equal(Number(all[b.address]!.pid), b.pid);
  const text = await on(a, "stats", "settings");
  assert.equal(text.code, 0);
  assert.match(text.stdout, new RegExp(`^# ${a.address.replaceAll(".", "\\.")}\n`));
  assert.match(text.stdout, /\nmaxbytes 67108864\n/);
});

test("mica: watch prints one frame per interval with the traffic between them", async () => {
  await using server = await startMemcached();
  await using client = await connect(server.address);
  await client.set("hot", "x");
  const { done } = start([
    "-s",
    server.address,
    "--json",
    "watch",
    "--interval",
    "300",
    "--count",
    "3",
  ]);
  // Gets until watch has exited (however long it takes to start), bounded should it hang.
  let stop = false;
  const deadline = Date.now() + 30_000;
  const traffic = (async () => {
    for (let i = 0; i < 10_000_000 && !stop && Date.now() < deadline; i++) {
      await client.get(i % 2 === 0 ? "hot" : "cold");
    }
  })();
  const run = await done;
  stop = true;
  await traffic;
  assert.equal(run.code, 0, run.stderr);
  const frames = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
  assert.equal(frames.length, 3);
  for (const frame of frames) {
    const [row] = frame.servers;
    assert.equal(row.server, server.address);
    assert.equal(row.memoryLimit, 64 * 1024 * 1024);
    assert.ok(row.connections >= 2, "the test's client and watch's own");
  }
  const busy = frames.filter((f) => f.servers[0].opsPerSecond > 100);
  assert.ok(busy.length >= 1, `some frame saw the gets: ${run.stdout}`);
  for (const frame of busy) {
    assert.ok(Math.abs(frame.servers[0].hitRatio - 0.5) < 0.05, JSON.stringify(frame));
  }

  const text = await on(server, "watch", "--interval", "100", "--count", "1");
  assert.match(
    text.stdout,
    /^mica watch .*\nserver +ops\/s +hit ratio +memory +conns +items +evictions\n/,
  );
  assert.ok(!text.stdout.includes("\x1b["), "no screen control when stdout is not a terminal");
});

test("mica: bench runs every operation, draws a progress bar, and reports throughput", async () => {
  await using server = await startMemcached();
  const run = await on(
    server,
    "--json",
    "bench",
    "--ops",
    "3000",
    "--concurrency",
    "8",
    "--progress",
  );
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  assert.equal(result.ops, 3000);
  assert.equal(result.errors, 0);
  assert.ok(result.opsPerSecond > 0 && result.p99Micros >= result.p50Micros, run.stdout);
  assert.match(run.stderr, /\r\[#{30}\] 100% 3000\/3000 \d+ ops\/s\n$/);
  const stats = await rawCommand(server, "stats\r\n");
  const gets = Number(/STAT cmd_get (\d+)/.exec(stats)?.[1]);
  const sets = Number(/STAT cmd_set (\d+)/.exec(stats)?.[1]);
  assert.equal(gets + sets, 3000 + 1000, "3000 operations plus 1000 seeding sets");
  assert.ok(sets > 1000 && sets < 1000 + 600, `about 10% sets: ${sets - 1000}`);
});

test("mica: Ctrl-C stops watch with exit code 130", async () => {
  await using server = await startMemcached();
  const { child, done } = start(["-s", server.address, "--json", "watch", "--interval", "200"]);
  // Once watch has printed a frame it is running: interrupt it.
  let frames = "";
  child.stdout!.on("data", (text: string) => frames += text);
  const deadline = Date.now() + 10_000;
  while (!frames.includes("\n") && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(frames.includes("\n"), "watch printed a frame within 10 s");
  child.kill("SIGINT");
  const run = await done;
  assert.equal(run.stderr, "mica: interrupted\n", "the handler ran, not the default action");
  // Deno's node:child_process reports an exit status of 128 + n as a death by signal n.
  if (IS_BUN) assert.equal(run.code, 130);
  else assert.ok(run.code === 130 || run.signal === "SIGINT", `${run.code} ${run.signal}`);
});
