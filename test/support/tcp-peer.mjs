// Host-side TCP peer for guest tests, run inside the test's network namespace.
// usage: node tcp-peer.mjs sink PORT | source PORT BYTES | counter PORT
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

const [mode, portArg, bytesArg] = process.argv.slice(2);
const port = Number(portArg);
const server = net.createServer({ allowHalfOpen: true });
server.listen(port, '0.0.0.0', () => console.log(`LISTENING ${mode} ${port}`));
let count = 0;
server.on('connection', (sock) => {
  if (mode === 'sink') {
    const h = createHash('sha256');
    let n = 0;
    sock.on('data', (d) => { h.update(d); n += d.length; });
    sock.on('end', () => {
      console.log(`SINK ${n} ${h.digest('hex')}`);
      sock.end();
      server.close();
    });
  } else if (mode === 'source') {
    const data = randomBytes(Number(bytesArg));
    console.log(`SOURCE ${data.length} ${createHash('sha256').update(data).digest('hex')}`);
    sock.end(data, () => server.close());
  } else if (mode === 'counter') {
    count++;
    sock.end(`${count}\n`);
  }
});
