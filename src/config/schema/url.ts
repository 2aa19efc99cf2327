/**
 * URL-valued options, by what the URL is for. `URL.canParse` alone lets in `javascript:alert(1)`,
 * `data:text/html,…` and `file:///etc/passwd`: a service link or an icon that reaches a page as an `href` or
 * `src` must be a web URL, so each kind names the schemes it may have, and the problem names the fix.
 */
import { z } from 'zod';

const ABSOLUTE = 'must be an absolute URL such as https://host/path';

/** Any absolute URL (the caller checks the scheme, e.g. redirect URIs of native apps: RFC 8252 §7.1). */
export const absoluteUrl = z.string().refine((v) => URL.canParse(v), { message: ABSOLUTE });

/** A web address: http or https only (plain http may be refused later off loopback). */
export const webUrl = z.string().superRefine((v, ctx) => {
  if (!URL.canParse(v)) ctx.addIssue({ code: 'custom', message: ABSOLUTE });
  else {
    const { protocol } = new URL(v);
    if (protocol !== 'https:' && protocol !== 'http:')
      ctx.addIssue({
        code: 'custom',
        message: `the ${protocol} scheme is not allowed here: use an https:// URL (http:// only on loopback)`,
      });
  }
});

/** An image for a page: a web address, or an inline `data:image/…` (never `data:text/html` or script). */
export const imageUrl = z.string().superRefine((v, ctx) => {
  if (!URL.canParse(v)) ctx.addIssue({ code: 'custom', message: ABSOLUTE });
  else {
    const { protocol } = new URL(v);
    const ok =
      protocol === 'https:' || protocol === 'http:' || (protocol === 'data:' && /^data:image\//i.test(v));
    if (!ok)
      ctx.addIssue({
        code: 'custom',
        message: `the ${protocol} scheme is not allowed here: use an https:// URL or a data:image/… URL`,
      });
  }
});
