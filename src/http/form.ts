/** Reads a small `application/x-www-form-urlencoded` body (the gate's and the issuer's own forms). */
import type { IncomingMessage } from 'node:http';

/** Our forms carry a token or a redirect target: 16 KiB is plenty, and caps what a client can make us buffer. */
const FORM_LIMIT = 16 * 1024;

/** The fields, or undefined for another content type or a body over the limit. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const type = req.headers['content-type'] ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_LIMIT) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
