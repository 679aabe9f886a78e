// Gantry's traffic split for nginx (njs, ngx_http_js_module; Debian: libnginx-mod-http-js).
//
// For progressive delivery, Gantry's agent writes a route's split between the variations of a release
// (weights, a header that selects one, a sticky cookie) to a JSON file and renames it into place. This
// module reads that file on every request, so a shift of the weights takes effect on the next request
// without `nginx -s reload`: no worker is replaced and no client connection is closed.
//
// A request goes to: the header's variation when it carries the split's header with its value; else the
// variation its sticky cookie names, while that variation has weight; else a variation drawn by weight.
// Then to one of that variation's servers at random. $gantry_split_backend (the server), $gantry_variation
// (the variation's name, for a response header or the access log) and $gantry_split_cookie (a Set-Cookie
// value, empty when the split has no sticky cookie or the request already carries this one) all name the
// same choice: it is made once per request and kept in $gantry_split_choice (js_var), the request's
// own variable (a module variable is not enough: nginx may evaluate each js_set in a fresh context).
//
//   load_module modules/ngx_http_js_module.so;          # main context
//   http {
//     js_import gantry_split from /usr/share/gantry/nginx/gantry-split.js;
//     js_set $gantry_split_backend gantry_split.backend;
//     js_set $gantry_variation gantry_split.variation;
//     js_set $gantry_split_cookie gantry_split.cookie;
//     js_var $gantry_split_choice;
//     log_format split '$status $gantry_variation $upstream_addr';  # optional
//     server {
//       location / {
//         set $gantry_split /etc/nginx/gantry/web.split.json;   # the router's path
//         proxy_pass http://$gantry_split_backend;
//         add_header X-Gantry-Variation $gantry_variation always;
//         add_header Set-Cookie $gantry_split_cookie;           # not sent when empty
//       }
//     }
//   }
var fs = require('fs');

var UNREACHABLE = '127.0.0.1:1';

function address(s) {
  return s.host.indexOf(':') >= 0 ? '[' + s.host + ']:' + s.port : s.host + ':' + s.port;
}

function cookieValue(header, name) {
  if (!header) return null;
  var parts = header.split(';');
  for (var i = 0; i < parts.length; i++) {
    var p = parts[i].trim();
    var eq = p.indexOf('=');
    if (eq > 0 && p.slice(0, eq) === name) return p.slice(eq + 1);
  }
  return null;
}

function byName(split, name) {
  for (var i = 0; i < split.variations.length; i++) if (split.variations[i].name === name) return split.variations[i];
  return null;
}

function byWeight(split) {
  var total = 0;
  for (var i = 0; i < split.variations.length; i++) total += split.variations[i].weight;
  var x = Math.random() * total;
  for (var j = 0; j < split.variations.length; j++) {
    x -= split.variations[j].weight;
    if (x < 0) return split.variations[j];
  }
  return null;
}

function decide(r) {
  var file = r.variables.gantry_split;
  var out = { variation: '', backend: UNREACHABLE, cookie: '' };
  if (!file) {
    r.error('gantry-split: $gantry_split is not set in this location');
    return out;
  }
  var split;
  try {
    split = JSON.parse(fs.readFileSync(file, 'utf8')).split;
  } catch (e) {
    r.error('gantry-split: cannot read ' + file + ': ' + e.message);
    return out;
  }
  var v = null;
  var carried = null;
  if (split.header && r.headersIn[split.header.name] === split.header.value) v = byName(split, split.header.variation);
  if (!v && split.sticky) {
    carried = cookieValue(r.headersIn.Cookie, split.sticky.cookie);
    var sticky = carried ? byName(split, carried) : null;
    if (sticky && sticky.weight > 0) v = sticky;
  }
  if (!v) v = byWeight(split);
  if (!v || v.servers.length === 0) {
    r.error('gantry-split: ' + file + ' has no variation with weight and servers');
    return out;
  }
  out.variation = v.name;
  out.backend = address(v.servers[Math.floor(Math.random() * v.servers.length)]);
  if (split.sticky && carried !== v.name) out.cookie = split.sticky.cookie + '=' + v.name + '; Path=/; HttpOnly; SameSite=Lax';
  return out;
}

function choice(r) {
  var kept = r.variables.gantry_split_choice;
  if (kept) return JSON.parse(kept);
  var c = decide(r);
  r.variables.gantry_split_choice = JSON.stringify(c);
  return c;
}

function backend(r) {
  return choice(r).backend;
}

function variation(r) {
  return choice(r).variation;
}

function cookie(r) {
  return choice(r).cookie;
}

export default { backend, variation, cookie };
