// Test-only, runs inside a network namespace: makes TCP ports of the host's loopback reachable
// there. It listens on 127.0.0.1:<port> in the namespace and hands every connection to the Unix
// socket <dir>/<port>.sock, which the test serves from the host namespace (forwardIntoNetns in
// sandbox.ts). Unix socket paths are file system objects, so they cross network namespaces.
import net from 'node:net';
import path from 'node:path';

const [dir, ...ports] = process.argv.slice(2);
if (!dir || ports.length === 0) {
  process.stderr.write('usage: netns-forward.ts SOCKET_DIR PORT...\n');
  process.exit(2);
}
let listening = 0;
for (const port of ports) {
  const server = net.createServer((inside) => {
    const outside = net.connect(path.join(dir, `${port}.sock`));
    inside.pipe(outside).pipe(inside);
    inside.on('error', () => outside.destroy());
    outside.on('error', () => inside.destroy());
  });
  server.on('error', (err) => {
    process.stderr.write(`cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(Number(port), '127.0.0.1', () => {
    if (++listening === ports.length) process.stdout.write('ready\n');
  });
}
process.on('SIGTERM', () => process.exit(0));
