// Gantry's live route for nginx (njs, ngx_http_js_module; Debian: libnginx-mod-http-js).
//
// With a router of format "live", Gantry's agent writes each target's serving address (host:port, one
// per line) to a small file and renames it into place. This module reads that file on every request, so
// a switch takes effect on the next request without `nginx -s reload`: no worker is replaced and no
// client connection is closed. $gantry_route names either one file or a directory whose *.addr files are
// pooled (one per target, e.g. the targets of a rolling update); a request goes to one of the addresses at
// random.
//
//   load_module modules/ngx_http_js_module.so;          # main context
//   http {
//     js_import gantry from /usr/share/gantry/nginx/gantry-route.js;
//     js_set $gantry_backend gantry.backend;
//     server {
//       location / {
//         set $gantry_route /etc/nginx/gantry/web;      # or one file: /etc/nginx/gantry/web/edge-1.addr
//         proxy_pass http://$gantry_backend;
//       }
//     }
//   }
var fs = require('fs');

function addressesIn(file) {
  var out = [];
  var lines = fs.readFileSync(file, 'utf8').split('\n');
  for (var i = 0; i < lines.length; i++) {
    var line = lines[i].trim();
    if (line && line.charAt(0) !== '#') out.push(line);
  }
  return out;
}

function backend(r) {
  var p = r.variables.gantry_route;
  if (!p) {
    r.error('gantry-route: $gantry_route is not set in this location');
    return '127.0.0.1:1';
  }
  try {
    var files = [p];
    if (fs.statSync(p).isDirectory()) {
      files = fs
        .readdirSync(p)
        .filter(function (f) {
          return /\.addr$/.test(f);
        })
        .map(function (f) {
          return p + '/' + f;
        });
    }
    var all = [];
    for (var i = 0; i < files.length; i++) all = all.concat(addressesIn(files[i]));
    if (all.length === 0) {
      r.error('gantry-route: no address in ' + p + ' (no target deployed yet?)');
      return '127.0.0.1:1';
    }
    return all[Math.floor(Math.random() * all.length)];
  } catch (e) {
    r.error('gantry-route: cannot read ' + p + ': ' + e.message);
    return '127.0.0.1:1';
  }
}

export default { backend };
