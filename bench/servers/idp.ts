// The dev IdP (src/demo/idp.ts) as its own process, with one confidential client for Portcullis.
// Usage: node bench/servers/idp.ts PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI[,REDIRECT_URI…] — prints
// "ready <issuer>". Several redirect URIs (comma-separated): every Portcullis and Apache that signs in here.
import { startDevIdp } from '../../src/demo/idp.ts';

const [portArg, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!portArg || !clientId || !clientSecret || !redirectUri) {
  process.stderr.write('usage: idp.ts PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI[,REDIRECT_URI...]\n');
  process.exit(2);
}
const idp = await startDevIdp({
  host: '127.0.0.1',
  port: Number(portArg),
  title: 'Portcullis bench IdP',
  clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUri.split(',') }],
});
process.stdout.write(`ready ${idp.issuer}\n`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    idp.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
