/**
 * The harness releases what it started when a later part fails to start. The case from the field: the
 * gateway's port is reserved, released, and only then listened on; under load another process takes it in
 * between, the gateway fails with EADDRINUSE — and a sample app (or IdP) that was already listening kept
 * the test file's process alive forever.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { reserveAddress, startHarness } from './gateway.ts';
import { startStack } from './stack.ts';

/** Listening sockets of this process (libuv's view: a closed server's wrapper may linger until GC). */
function listeners(): string[] {
  const { libuv } = process.report.getReport() as unknown as {
    libuv: { type: string; is_active: boolean; localEndpoint?: { port: number }; remoteEndpoint?: unknown }[];
  };
  return libuv
    .filter((h) => h.type === 'tcp' && h.is_active && h.localEndpoint && !h.remoteEndpoint)
    .map((h) => String(h.localEndpoint?.port));
}

/** Takes the reserved port, as another process would. */
async function occupy(port: number): Promise<net.Server> {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  return taken;
}

test('startHarness: a gateway that cannot listen leaves no sample app behind', async () => {
  const address = await reserveAddress();
  await occupy(address.port);
  const before = listeners();
  // Discovery is lazy: an issuer nobody answers at is fine for a gateway that never gets a request.
  const provider = {
    id: 'x',
    type: 'oidc',
    issuer: 'http://127.0.0.1:9/',
    clientId: 'x',
    clientSecret: 'x'.repeat(32),
  };
  await assert.rejects(startHarness({ address, providers: [provider] }), /EADDRINUSE/);
  assert.deepEqual(listeners(), before, 'every listener started was closed again');
});

test('startStack: a gateway that cannot listen leaves no IdP or sample app behind', async () => {
  const before = listeners();
  // The provider's issuer is taken from the started IdP; a listen address already in use fails the gateway.
  const taken = await occupy(0);
  const { port } = taken.address() as net.AddressInfo;
  await assert.rejects(startStack({ config: (c) => ({ ...c, listen: `127.0.0.1:${port}` }) }), /EADDRINUSE/);
  assert.deepEqual(listeners(), [...before, String(port)], 'only the port taker is still listening');
});
