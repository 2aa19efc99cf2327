/**
 * When a rotated key may start signing. Every instance learns of a new key set by polling the storage
 * (src/keys/poller.ts), so right after `portcullis keys rotate` some instances publish the new key at
 * /oidc/jwks and /oauth2/jwks and others do not yet. A key that signed at once would let an instance hand
 * out a token whose `kid` a lagging instance's JWKS lacks: a service that refetches the JWKS from that
 * instance (behind the same load balancer) cannot verify it. So a new key is published first and signs
 * only once every running instance has had a poll to publish it too, plus a margin for clocks that
 * disagree and for a poll that is slow to answer.
 */

/** How often each instance reads the stored key set's version. */
export const KEY_POLL_SECONDS = 60;
/** Clock disagreement between instances (and the machine running `keys rotate`) and slow polls. */
export const ACTIVATION_MARGIN_SECONDS = 60;
/** A rotated key signs this long after it was stored (published): one full poll period plus the margin. */
export const ACTIVATION_DELAY_SECONDS = KEY_POLL_SECONDS + ACTIVATION_MARGIN_SECONDS;
