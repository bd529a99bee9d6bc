<?php
// php-memcached (Debian's php-memcached), driven by Mica's interop tests. Reads one JSON request
// from standard input, writes one JSON reply, as tests/interop/_peer.py does:
//   {"servers": ["127.0.0.1:11211"], "options": {"OPT_PREFIX_KEY": "app:", ...},
//    "ops": [{"op": "set", "key": "k", "value": V}, {"op": "get", "key": "k"},
//            {"op": "get_multi", "keys": [...]}, {"op": "server_by_key", "key": "k"}]}
// Option names are Memcached class constants; values that name constants ("DISTRIBUTION_...",
// "SERIALIZER_...") are resolved too. Bytes travel as {"$bytes": base64}, floats as
// {"$float": "..."}.
function decode_value($v) {
  if (is_array($v) && isset($v['$bytes'])) return base64_decode($v['$bytes']);
  if (is_array($v) && isset($v['$float'])) return (float) $v['$float'];
  if (is_array($v) && isset($v['$int'])) return (int) $v['$int'];
  return $v;
}
function encode_value($v) {
  if (is_float($v)) return ['$float' => var_export($v, true)];
  if (is_int($v)) return ['$int' => (string) $v];
  if (is_string($v) && preg_match('//u', $v) !== 1) return ['$bytes' => base64_encode($v)];
  return $v;
}
try {
  $request = json_decode(file_get_contents('php://stdin'), true);
  $m = new Memcached();
  foreach ($request['options'] ?? [] as $name => $value) {
    if (is_string($value) && defined("Memcached::$value")) $value = constant("Memcached::$value");
    if (!$m->setOption(constant("Memcached::$name"), $value)) throw new Exception("setOption $name");
  }
  foreach ($request['servers'] as $server) {
    $parts = explode(':', $server);
    $m->addServer($parts[0], (int) $parts[1], isset($parts[2]) ? (int) $parts[2] : 0);
  }
  $results = [];
  foreach ($request['ops'] as $op) {
    switch ($op['op']) {
      case 'set': $results[] = $m->set($op['key'], decode_value($op['value'])); break;
      case 'get':
        $v = $m->get($op['key']);
        // get() answers false for a miss and for a stored false alike: the result code tells.
        $results[] = $m->getResultCode() === Memcached::RES_NOTFOUND ? null : encode_value($v);
        break;
      case 'get_multi':
        $found = $m->getMulti($op['keys']) ?: [];
        $out = new stdClass();
        foreach ($found as $k => $v) $out->$k = encode_value($v);
        $results[] = $out;
        break;
      case 'server_by_key':
        $s = $m->getServerByKey($op['key']);
        $results[] = $s['host'] . ':' . $s['port'];
        break;
      default: throw new Exception('unknown op ' . $op['op']);
    }
  }
  echo json_encode(['results' => $results]);
} catch (Throwable $e) {
  echo json_encode(['error' => get_class($e) . ': ' . $e->getMessage()]);
}
