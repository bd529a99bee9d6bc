// memcached 2.x ("3rd-Eden", ASCII protocol, callback API with a connection pool).
// Multi-get via getMulti(keys).
import { require, runPeer } from "./common.mjs";

const Memcached = require("memcached");

await runPeer("memcached", async (cfg) => {
  const config = { retries: 0, timeout: 5000 };
  // Cluster mode: the server list goes to its HashRing (ketama-style, md5, by default).
  const location = cfg.servers.length > 1 ? cfg.servers : `${cfg.host}:${cfg.port}`;
  const mc = new Memcached(location, config);
  const cb = (resolve, reject) => (err, v) => (err ? reject(err) : resolve(v));
  const client = {
    name: "memcached (3rd-Eden)",
    get: (key) => new Promise((res, rej) => mc.get(key, cb(res, rej))),
    set: (key, value) => new Promise((res, rej) => mc.set(key, value, 0, cb(res, rej))),
    getManyMethod: "getMulti(keys)",
    getMany: (keys) =>
      new Promise((res, rej) =>
        mc.getMulti(keys, (err, data) => (err ? rej(err) : res(Object.keys(data ?? {}).length)))
      ),
    makeLargeValue: (bytes) => Buffer.from(bytes),
  };
  // Open one connection per server first, as Mica's connect() does: version() asks every
  // server. Without it, a cold pool facing 64 concurrent requests has only connections still
  // connecting (not yet in the pool) and, with retries: 0, fails them with "The connection pool
  // is full", which also counts against the server (the one-server run was warmed by scenario a).
  await new Promise((res, rej) => mc.version((err) => (err ? rej(err) : res())));
  return {
    client,
    config: { ...config, poolSize: mc.poolSize, servers: cfg.servers.length },
    close: () => mc.end(),
  };
});
