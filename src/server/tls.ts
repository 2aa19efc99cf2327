/**
 * TLS on the main listener (`server.tls`), for a single host with no TLS-terminating proxy in front.
 *
 * HTTPS over HTTP/1.1 only, not HTTP/2, on purpose: the pipeline is HTTP/1.1 through and through. The
 * connection guard (src/http/limits.ts) answers 503/408 by writing HTTP/1.1 bytes on the socket and times
 * request bodies per connection, which HTTP/2's streams multiplexed on one socket do not fit; the proxy
 * copies request headers, which under Node's HTTP/2 compatibility API carry the pseudo-headers `:path`,
 * `:authority` (and no `Host`); and WebSockets need HTTP/1.1's Upgrade (HTTP/2 would need RFC 8441's
 * extended CONNECT, which the compatibility API does not turn into an 'upgrade' event). ALPN offers only
 * `http/1.1`, so an HTTP/2-capable client settles on it in the handshake. Where HTTP/2 to browsers
 * matters, a proxy in front does it (docs/deploy/proxies.md).
 *
 * The certificate is renewed in place: `portcullis serve` watches every `…File` setting and reloads, and
 * the reload hands the files read again to `setSecureContext`: new connections get the new certificate,
 * open ones keep theirs. A pair that does not match (a renewal that has written the certificate but not
 * yet the key) is refused and the previous one stays until the next change.
 */
import { readFileSync } from 'node:fs';
import type https from 'node:https';
import tls from 'node:tls';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Reads both files and checks that the key is the certificate's; throws an Error naming the setting. */
export function readTls(files: TlsFiles): TlsMaterial {
  const read = (key: 'certFile' | 'keyFile') => {
    try {
      return readFileSync(files[key]);
    } catch (err) {
      throw new Error(
        `server.tls.${key}: cannot read ${files[key]} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  };
  const material = { cert: read('certFile'), key: read('keyFile') };
  try {
    // The same check the listener makes, done first so a bad pair never replaces a good one.
    tls.createSecureContext(material);
  } catch (err) {
    throw new Error(
      `server.tls: ${files.certFile} and ${files.keyFile} are not a usable certificate and key (${(err as Error).message})`,
    );
  }
  return material;
}

/** The listener's TLS options: TLS 1.2 or newer (Node's default floor), HTTP/1.1 by ALPN (see above). */
export function tlsServerOptions(material: TlsMaterial, handshakeTimeoutMs: number): https.ServerOptions {
  return {
    ...material,
    minVersion: 'TLSv1.2',
    ALPNProtocols: ['http/1.1'],
    // A client that opens a connection and never finishes the handshake holds a descriptor the connection
    // cap does not count yet (it counts sockets once they are secure): no longer than for the headers.
    handshakeTimeout: handshakeTimeoutMs,
  };
}

/** Swaps the certificate in when the files hold a different one; returns what is served now. */
export function reloadTls(
  server: https.Server,
  current: TlsMaterial,
  files: TlsFiles,
): { material: TlsMaterial; changed: boolean } {
  const next = readTls(files);
  if (next.cert.equals(current.cert) && next.key.equals(current.key))
    return { material: current, changed: false };
  server.setSecureContext({ ...next, minVersion: 'TLSv1.2' });
  return { material: next, changed: true };
}
