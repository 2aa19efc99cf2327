/**
 * The Redis connection fields that `sessions` (store redis) and `storage` (type redis) share beyond `url`,
 * `password` and `keyPrefix`: the ACL user, Sentinel, Cluster and TLS. One definition, spread into both
 * sections, so the two cannot drift. Resolution (which shape, secrets from files, cross-field checks) is
 * src/config/redis.ts; the client for each shape is built in src/storage/redis.ts.
 *
 * Shapes (docs/scaling.md): standalone (`url`), Sentinel (`sentinels` + `sentinelMasterName`: the client
 * asks the sentinels for the current primary and follows a failover), Cluster (`cluster`: seed nodes; the
 * client learns the slot map and follows MOVED/ASK and replica promotions).
 */
import { z } from 'zod';

const hostPort = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { message: 'host:port, e.g. redis-0.redis:6379' });

export function redisConnectionFields(what: string) {
  return {
    username: z
      .string()
      .min(1)
      .optional()
      .describe(
        `redis ACL user name for ${what} (Redis 6+ AUTH username password, redis.io/docs/latest/operate/oss_and_stack/management/security/acl/); default: the default user`,
      )
      .meta({ examples: ['portcullis'] }),
    sentinels: z
      .array(hostPort)
      .min(1)
      .optional()
      .describe(
        `Redis Sentinel for ${what}: the sentinels to ask for the current primary (host:port each; list three or more). Needs sentinelMasterName; excludes url and cluster`,
      )
      .meta({ examples: [['sentinel-0:26379', 'sentinel-1:26379', 'sentinel-2:26379']] }),
    sentinelMasterName: z
      .string()
      .min(1)
      .optional()
      .describe('the name the sentinels monitor the primary under (sentinel monitor <name> …)')
      .meta({ examples: ['mymaster'] }),
    sentinelUsername: z
      .string()
      .min(1)
      .optional()
      .describe('ACL user name on the sentinels themselves, when they require one')
      .meta({ examples: ['sentinel-user'] }),
    sentinelPassword: z
      .string()
      .min(1)
      .optional()
      .describe(
        'password on the sentinels themselves (requirepass of sentinel.conf), or sentinelPasswordFile',
      )
      .meta({ examples: ['${SENTINEL_PASSWORD}'] }),
    sentinelPasswordFile: z
      .string()
      .min(1)
      .optional()
      .describe('a file holding the sentinels’ password')
      .meta({ examples: ['/run/secrets/sentinel-password'] }),
    cluster: z
      .array(hostPort)
      .min(1)
      .optional()
      .describe(
        `Redis Cluster for ${what}: seed nodes (host:port each; the others are discovered). Every key carries the key prefix as a hash tag, so multi-key operations stay in one slot. Excludes url and sentinels`,
      )
      .meta({ examples: [['redis-0:6379', 'redis-1:6379', 'redis-2:6379']] }),
    tls: z
      .object({
        caFile: z
          .string()
          .min(1)
          .optional()
          .describe('PEM CA bundle that signed the redis server certificates; default: the system CAs')
          .meta({ examples: ['/etc/portcullis/redis-ca.pem'] }),
        certFile: z
          .string()
          .min(1)
          .optional()
          .describe('PEM client certificate, when redis requires one (tls-auth-clients yes)')
          .meta({ examples: ['/etc/portcullis/redis-client.pem'] }),
        keyFile: z
          .string()
          .min(1)
          .optional()
          .describe('PEM private key of the client certificate')
          .meta({ examples: ['/run/secrets/redis-client-key.pem'] }),
        serverName: z
          .string()
          .min(1)
          .optional()
          .describe('the name the server certificate must carry, when it differs from the host connected to')
          .meta({ examples: ['redis.internal'] }),
      })
      .strict()
      .optional()
      .describe(
        `TLS to redis for ${what} (every node and, with Sentinel, the sentinels too); present means on. With a standalone url, rediss:// turns it on as well`,
      ),
  };
}
