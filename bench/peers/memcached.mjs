// memcached 2.x ("3rd-Eden", ASCII protocol, callback API with a connection pool).
// Multi-get via getMulti(keys).
import { require, runPeer } from "./common.mjs";

const Memcached = require("memcached");

await runPeer("memcached", (cfg) => {
  const config = { retries: 0, timeout: 5000 };
  const mc = new Memcached(`${cfg.host}:${cfg.port}`, config);
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
  return {
    client,
    config: { ...config, poolSize: mc.poolSize },
    close: () => mc.end(),
  };
});
