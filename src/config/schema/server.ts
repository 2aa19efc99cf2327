/**
 * `server`: how long clients may take and how many may be connected at once (src/http/limits.ts).
 * Without these a client that dribbles a request body holds its connection forever, and a few hundred
 * such clients exhaust the process's file descriptors — `/ping` included. And, for a host with no proxy
 * in front, TLS on the listener (src/server/tls.ts).
 */
import { z } from 'zod';
import { duration } from './duration.ts';

export const serverSchema = z
  .object({
    headersTimeout: duration
      .default(30)
      .describe(
        'time a client has to send the request line and headers (a WebSocket upgrade request too); past it the connection gets 408 and is closed',
      )
      .meta({ examples: ['30s'] }),
    requestTimeout: duration
      .default(300)
      .describe(
        'time a client has to send the whole request, headers and body; at least headersTimeout. Raise it for large uploads over slow links',
      )
      .meta({ examples: ['5m'] }),
    bodyTimeout: duration
      .default(30)
      .describe(
        'time without a byte of the request body arriving (a client that stalls, or an upstream that stops taking the body); past it the connection gets 408 (or is cut if the response has started)',
      )
      .meta({ examples: ['30s'] }),
    sendTimeout: duration
      .default(60)
      .describe(
        'time a client may leave response bytes unread (a stalled download) before the connection is cut; waiting for the upstream (long polls, server-sent events) does not count',
      )
      .meta({ examples: ['60s'] }),
    idleTimeout: duration
      .default(65)
      .describe(
        'how long an idle keep-alive connection stays open between requests; keep it above the idle timeout of a load balancer in front (AWS ALB: 60s). Open WebSocket tunnels are not cut',
      )
      .meta({ examples: ['65s'] }),
    maxConnections: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe(
        'client connections open at once, WebSocket tunnels included; past it a new connection gets 503 with Retry-After and is closed. Default: half the open-file limit less 64 (each proxied request needs an upstream socket too), at most 4096',
      )
      .meta({ examples: [1024] }),
    shutdownDelay: z
      .union([z.literal(0), duration])
      .default(5)
      .describe(
        'on SIGTERM, how long (0: none) /ready answers 503 while the listener still serves, before it stops accepting: time for a load balancer (or Kubernetes endpoints) to stop sending new requests, like a preStop sleep. SIGINT skips it',
      )
      .meta({ examples: ['5s'] }),
    drainTimeout: duration
      .default(20)
      .describe(
        'after the listener closed, how long requests in flight and open WebSocket tunnels may take to finish; at the deadline the rest are cut and the process exits 0. Keep shutdownDelay + drainTimeout under the orchestrator’s grace period (Kubernetes: terminationGracePeriodSeconds, 30 s by default; the defaults take 25 s)',
      )
      .meta({ examples: ['25s'] }),
    workers: z
      .union([z.number().int().min(1).max(256), z.literal('auto')])
      .default(1)
      .describe(
        'processes that serve requests (node:cluster): 1 is one process, as without the setting; auto is one per available CPU core. With more than one, a primary process forks the workers, reloads them on SIGHUP, drains them on SIGTERM, restarts one that dies and serves /metrics for all of them; state they share must live in storage sqlite or redis, or in sessions.store redis (docs/scaling.md#workers-one-process-per-core)',
      )
      .meta({ examples: ['auto'] }),
    tls: z
      .object({
        certFile: z
          .string()
          .min(1)
          .describe('PEM certificate chain: the server certificate first, then the intermediates')
          .meta({ examples: ['/etc/portcullis/tls/fullchain.pem'] }),
        keyFile: z
          .string()
          .min(1)
          .describe('PEM private key of that certificate')
          .meta({ examples: ['/etc/portcullis/tls/privkey.pem'] }),
      })
      .strict()
      .optional()
      .describe(
        'serve HTTPS (HTTP/1.1 over TLS 1.2+) on listen, for a host with no TLS-terminating proxy in front; both files are read again when either changes (or on SIGHUP) and new connections get the new certificate without a restart. publicUrl still decides cookies and redirects (docs/deploy/systemd.md)',
      ),
  })
  .strict();

export type ServerConfig = z.output<typeof serverSchema>;
