"""A memcached client of another language, driven by Mica's interop tests.

Reads one JSON request from standard input and writes one JSON reply to standard output:

  {"client": "pylibmc" | "pymemcache", "servers": ["127.0.0.1:11211", ...],
   "behaviors": {...} (pylibmc), "options": {...} (pymemcache HashClient/Client keyword args),
   "ops": [{"op": "set", "key": "k", "value": V}, {"op": "get", "key": "k"},
           {"op": "get_multi", "keys": [...]}, {"op": "delete", "key": "k"}]}

Values travel as JSON; bytes as {"$bytes": "<base64>"}, floats as {"$float": "repr"} and
objects by their JSON form. The reply is {"results": [...]} with one entry per op (`null` for a
miss), or {"error": "..."}. Uses Debian's python3-pylibmc and python3-pymemcache.
"""
import base64
import json
import sys


def decode(value):
    if isinstance(value, dict) and "$bytes" in value:
        return base64.b64decode(value["$bytes"])
    if isinstance(value, dict) and "$float" in value:
        return float(value["$float"])
    if isinstance(value, dict) and "$int" in value:
        return int(value["$int"])
    return value


def encode(value):
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return {"$float": repr(value)}
    if isinstance(value, int):
        return {"$int": str(value)}
    return value


def make_client(request):
    servers = request["servers"]
    if request["client"] == "pylibmc":
        import pylibmc

        return pylibmc.Client(servers, behaviors=request.get("behaviors", {}))
    if request["client"] == "pymemcache":
        from pymemcache.client.base import Client
        from pymemcache import serde

        options = dict(request.get("options", {}))
        if options.pop("serde", None) == "compressed":
            options["serde"] = serde.CompressedSerde(min_compress_len=options.pop("min_compress_len", 400))
        elif "serde" not in options:
            options["serde"] = serde.pickle_serde
        # pymemcache sends sets with noreply by default: set() then returns True at once, before
        # memcached has stored anything (or even read it), so a reader on another connection
        # could miss the item. Waiting for the reply makes "stored" mean stored.
        options.setdefault("default_noreply", False)
        host, port = servers[0].rsplit(":", 1)
        return Client((host, int(port)), allow_unicode_keys=True, **options)
    raise ValueError("unknown client " + request["client"])


def main():
    request = json.load(sys.stdin)
    client = make_client(request)
    results = []
    for op in request["ops"]:
        kind = op["op"]
        if kind == "set":
            results.append(bool(client.set(op["key"], decode(op["value"]))))
        elif kind == "get":
            results.append(encode(client.get(op["key"])))
        elif kind == "get_multi":
            found = client.get_multi(op["keys"])
            results.append({k: encode(v) for k, v in found.items()})
        elif kind == "delete":
            results.append(bool(client.delete(op["key"])))
        else:
            raise ValueError("unknown op " + kind)
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # reported to the test, which fails with it
        json.dump({"error": "%s: %s" % (type(error).__name__, error)}, sys.stdout)
