// Starts a local PostgreSQL (Debian's package) with TLS for hack/up, prints
// its connection details as one JSON line, and stops it on SIGTERM/SIGINT.
import { startPostgres } from '../test/harness/postgres.js';

const pg = await startPostgres();
console.log(JSON.stringify({ port: pg.port, user: pg.user, password: pg.password, ca: pg.ca }));
const stop = () => {
  void pg.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => undefined, 1 << 30);
