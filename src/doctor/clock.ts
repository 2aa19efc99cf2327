/**
 * Clock skew between this host and the IdP, from the `Date` header of the IdP's answers. ID tokens are
 * checked against the local clock (exp and nbf with 30 s of tolerance in openid-client; iat no older
 * than an hour), so a clock that is off makes fresh tokens look expired or not yet valid.
 */
import { type Check, fail, ok, skip, warn } from './finding.ts';
import type { DateSample } from './http.ts';
import type { ProviderScope } from './scope.ts';

export const SKEW_WARN_SECONDS = 5;
export const SKEW_FAIL_SECONDS = 60;

/**
 * The IdP's clock minus ours, in ms, from the sample with the shortest round trip. `Date` has second
 * precision (RFC 9110 §6.6.1): the server's time lay in [Date, Date + 1 s), so its middle is compared
 * with the middle of the round trip. `uncertaintyMs` bounds the error.
 */
export function estimateSkew(samples: readonly DateSample[]): { skewMs: number; uncertaintyMs: number } {
  let best: DateSample | undefined;
  for (const x of samples) {
    if (best === undefined || x.receivedMs - x.sentMs < best.receivedMs - best.sentMs) best = x;
  }
  if (best === undefined) throw new TypeError('estimateSkew: no samples');
  const rtt = Math.max(0, best.receivedMs - best.sentMs);
  return {
    skewMs: best.serverMs + 500 - (best.sentMs + best.receivedMs) / 2,
    uncertaintyMs: 500 + rtt / 2,
  };
}

export const clockSkew: Check<ProviderScope> = {
  id: 'provider.clock-skew',
  when: 'live',
  title: `the IdP’s clock (its Date header) is within ${SKEW_WARN_SECONDS} s of this host’s (fail beyond ${SKEW_FAIL_SECONDS} s)`,
  run(s) {
    if (s.location.kind === 'unknown') return undefined;
    if (s.dates.length === 0) return skip('no answer from the IdP carried a Date header');
    const { skewMs, uncertaintyMs } = estimateSkew(s.dates);
    const seconds = Math.round(Math.abs(skewMs) / 1000);
    const direction = skewMs > 0 ? 'ahead of' : 'behind';
    const detail = `skew ${Math.round(skewMs)} ms ± ${Math.round(uncertaintyMs)} ms over ${s.dates.length} answer${s.dates.length > 1 ? 's' : ''}`;
    // Only a difference larger than the measurement error counts.
    const certain = Math.max(0, Math.abs(skewMs) - uncertaintyMs) / 1000;
    const fix =
      'synchronise both clocks with NTP (chrony, systemd-timesyncd, or the cloud provider’s time service)';
    if (certain > SKEW_FAIL_SECONDS) {
      return fail(
        `the IdP’s clock is ${seconds} s ${direction} this host’s: ID tokens would be rejected as expired or not yet valid`,
        { fix, detail },
      );
    }
    if (certain > SKEW_WARN_SECONDS) {
      return warn(
        `the IdP’s clock is ${seconds} s ${direction} this host’s; short-lived tokens and sessions will be off by that much`,
        { fix, detail },
      );
    }
    return ok(
      `the IdP’s clock agrees with this host’s (within ${Math.max(1, Math.ceil(Math.abs(skewMs) / 1000))} s)`,
      { detail },
    );
  },
};
