// Starts kinesalite on the loopback interface only: its own CLI cannot choose the host.
// Usage: node kinesalite.js PORT DATA_DIR
'use strict';
const kinesalite = require('kinesalite');

const port = Number(process.argv[2]);
const dataDir = process.argv[3];
if (!Number.isInteger(port) || !dataDir) {
  console.error('usage: node kinesalite.js PORT DATA_DIR');
  process.exit(2);
}

// createStreamMs/deleteStreamMs default to 500 ms of simulated provisioning; 0 keeps tests quick.
const server = kinesalite({ path: dataDir, createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
// kinesalite rethrows a request's 'error' event, so a client that goes away mid-request (a job killed with
// kill -9 while it sends) would take the whole server down. Such a request is dropped instead: the client is gone.
server.on('request', (req, res) => {
  req.removeAllListeners('error');
  req.on('error', () => res.destroy());
});
server.listen(port, '127.0.0.1', (err) => {
  if (err) throw err;
  console.log(`kinesalite listening on 127.0.0.1:${port}, data in ${dataDir}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
