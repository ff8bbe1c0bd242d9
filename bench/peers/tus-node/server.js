// The tus peer for bench/tus.sh: @tus/server with its FileStore, as its README sets it up.
//   node server.js DIR [PORT]    (default port 18093; uploads under /files, stored in DIR/<id>)
// A finished upload stays at DIR/<id> (its record is DIR/<id>.json); the id is the last path
// segment of the Location the POST returns.
const { Server } = require('@tus/server');
const { FileStore } = require('@tus/file-store');
const dir = process.argv[2], port = +(process.argv[3] || 18093);
if (!dir) { console.error('usage: node server.js DIR [PORT]'); process.exit(2); }
const server = new Server({ path: '/files', datastore: new FileStore({ directory: dir }) });
server.listen(port, '127.0.0.1', () => console.error(`tus-node: 127.0.0.1:${port}/files -> ${dir}`));
