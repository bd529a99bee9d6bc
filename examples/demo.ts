/**
 * A tour of Mica against a real memcached that this script starts and stops itself.
 * Runs unchanged on Deno (`deno run --allow-all examples/demo.ts`) and Bun (`bun examples/demo.ts`);
 * `bash scripts/demo.sh` installs what is missing and runs both.
 *
 * @module
 */

import { connect, isMemcachedError } from "../mod.ts";
import { startMemcached } from "../tests/_memcached.ts";

const runtime = "Bun" in globalThis ? "Bun" : "Deno";

await using server = await startMemcached();
console.log(`[${runtime}] memcached ${server.address} (pid ${server.pid}) started`);

{
  await using client = await connect(server.address, { timeout: 500 });
  console.log("version:", await client.version());

  await client.set("greeting", "hello from Mica", { ttl: 60 });
  console.log("get greeting:", await client.get("greeting"));

  await client.set("bytes", new Uint8Array([0, 1, 2, 255]));
  console.log("get bytes:", await client.get("bytes"));
  console.log("get missing:", await client.get("missing"));

  const item = await client.gets("greeting");
  console.log("gets greeting: cas", item?.cas);
  console.log("cas with that token:", await client.cas("greeting", "updated", item!.cas));
  console.log("cas with a stale token:", await client.cas("greeting", "lost", item!.cas));

  console.log("add existing:", await client.add("greeting", "x"));
  console.log("incr (created at 10):", await client.incr("visits", 5, { initial: 10 }));
  console.log("incr by 5:", await client.incr("visits", 5));
  console.log("incr near 2^64:", await client.incr("big", 1, { initial: 2n ** 64n - 2n }));

  const keys = Array.from({ length: 5 }, (_, i) => `user:${i}`);
  await Promise.all(keys.map((key, i) => client.set(key, `name-${i}`)));
  console.log("getMany:", await client.getMany([...keys, "user:none"]));

  try {
    await client.set("bad\r\nflush_all", "x");
  } catch (error) {
    if (isMemcachedError(error)) console.log("rejected before writing:", error.code);
  }

  const controller = new AbortController();
  controller.abort();
  await client.get("greeting", { signal: controller.signal }).catch((error) =>
    console.log("aborted request:", isMemcachedError(error) ? error.code : error)
  );

  const stats = await client.stats();
  console.log("server cmd_get:", stats.get("cmd_get"), "cmd_set:", stats.get("cmd_set"));
  console.log("counters before close:", client.counters());
}
console.log(`[${runtime}] client closed`);

// A cluster of three: keys are spread like libmemcached's ketama; a dead server fails only its keys.
await using b = await startMemcached();
await using c = await startMemcached();
{
  const list = [server.address, b.address, c.address];
  await using cluster = await connect(list, { timeout: 300, failureLimit: 1 });
  cluster.addEventListener("server-down", (event) => {
    console.log("event server-down:", (event as CustomEvent<{ server: string }>).detail.server);
  });
  const keys = Array.from({ length: 9 }, (_, i) => `item:${i}`);
  await Promise.all(keys.map((key) => cluster.set(key, key.toUpperCase())));
  for (const key of keys.slice(0, 3)) console.log(`${key} lives on`, cluster.serverFor(key));
  c.kill("SIGKILL");
  await c.waitExit();
  const found = await cluster.getMany(keys);
  console.log(`after killing ${c.address}: found ${found.size}, failed ${found.failed.size}`);
  for (const [key, error] of found.failed) console.log(`  ${key}: ${error.code}`);
}
console.log(`[${runtime}] cluster closed`);
