/**
 * Port reservation for the demo: the gateway's public URL (and the IdP client's redirect URI) contains its
 * port, so with port 0 a free one is picked before the gateway listens.
 */
import net from 'node:net';

export interface PortReservation {
  readonly port: number;
  /** Frees the port for its real listener. Idempotent. */
  release(): Promise<void>;
}

/**
 * Reserves a free port on `host`: listens on port 0 and reads the port the OS picked. The port stays taken
 * (so other listeners on port 0, such as the demo IdP's, cannot be given it) until `release()`, which the
 * caller calls right before listening on it for real.
 */
export function reservePort(host = '127.0.0.1'): Promise<PortReservation> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      server.off('error', reject);
      const { port } = server.address() as net.AddressInfo;
      let released: Promise<void> | undefined;
      resolve({
        port,
        release: () => {
          released ??= new Promise<void>((done) => server.close(() => done()));
          return released;
        },
      });
    });
  });
}

/** A port that is free on `host` right now (listen on 0, read the port, close). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const reservation = await reservePort(host);
  await reservation.release();
  return reservation.port;
}
