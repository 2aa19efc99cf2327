/** Host names and addresses: a leaf module that imports nothing of the project. */
import { isIP } from 'node:net';

/** localhost, *.localhost, ::1 and 127.0.0.0/8 (brackets allowed): names that never leave the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return (
    h === 'localhost' || h.endsWith('.localhost') || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'))
  );
}
