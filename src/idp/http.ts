/**
 * Calls to provider APIs beyond the OAuth endpoints (GitHub's /user, Microsoft Graph, GitLab's projects,
 * JupyterHub's /hub/api/user): JSON over the provider's fetch (so metrics see them), with a time-out, the
 * access token in the Authorization header, and failures turned into coded errors. Tokens never reach
 * an error message.
 */
import type { CustomFetch } from 'openid-client';
import { PortcullisError } from '../errors/codes.ts';

export interface ApiRequest {
  readonly url: string | URL;
  readonly accessToken: string;
  /** `Bearer` (RFC 6750) unless the API wants otherwise (JupyterHub: `token`). */
  readonly scheme?: string;
  readonly method?: 'GET' | 'POST';
  readonly json?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Statuses answered as results rather than errors (e.g. 404 for "no access to this project"). */
  readonly acceptStatus?: readonly number[];
  /** Names the call in errors: `GitHub /user/orgs`. */
  readonly label: string;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

/** The provider's fetch, or the global one behind the same signature. */
export function fetchOf(f: CustomFetch | undefined): CustomFetch {
  return f ?? ((url, init) => fetch(url, init as RequestInit));
}

export async function callApi(
  fetchFn: CustomFetch | undefined,
  timeoutSeconds: number,
  r: ApiRequest,
): Promise<ApiResponse> {
  const headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': 'portcullis',
    ...r.headers,
    authorization: `${r.scheme ?? 'Bearer'} ${r.accessToken}`,
  };
  let body: string | undefined;
  if (r.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(r.json);
  }
  const url = typeof r.url === 'string' ? r.url : r.url.href;
  let res: Response;
  try {
    res = await fetchOf(fetchFn)(url, {
      method: r.method ?? 'GET',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
  } catch (err) {
    throw new PortcullisError('PCL_IDP_UNREACHABLE', `${r.label}: ${(err as Error).message}`, { cause: err });
  }
  const ok = res.status >= 200 && res.status < 300;
  if (!ok && !r.acceptStatus?.includes(res.status)) {
    await res.body?.cancel();
    throw new PortcullisError('PCL_USERINFO_FAILED', `${r.label}: HTTP ${res.status}`);
  }
  let parsed: unknown;
  try {
    parsed = ok ? await res.json() : undefined;
  } catch {
    throw new PortcullisError('PCL_USERINFO_FAILED', `${r.label}: the answer is not JSON`);
  }
  if (!ok) await res.body?.cancel().catch(() => {});
  return { status: res.status, body: parsed, headers: res.headers };
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
