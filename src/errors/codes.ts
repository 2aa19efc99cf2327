/**
 * The one registry of runtime error codes. Each code is documented in docs/reference/errors.md
 * (test/errors/codes.test.ts keeps the two in step). `title` and `advice` are shown to users;
 * operator detail goes to the log under the same request id.
 */
export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  readonly advice: string;
}

export const ERRORS = {
  PCL_IDP_ERROR: {
    status: 400,
    title: 'The identity provider did not sign you in',
    advice: 'The sign-in was cancelled or refused at the identity provider. Try signing in again.',
  },
  PCL_STATE_UNKNOWN: {
    status: 400,
    title: 'This sign-in link has expired',
    advice: 'The sign-in took too long, was already used, or was started in another browser. Start again.',
  },
  PCL_CALLBACK_INVALID: {
    status: 400,
    title: 'The sign-in response was incomplete',
    advice: 'The identity provider sent back a response without an authorization code. Start again.',
  },
  PCL_ISSUER_MISMATCH: {
    status: 400,
    title: 'This sign-in answer came from the wrong place',
    advice:
      'The answer does not name the identity provider this sign-in was started with, so it was refused. Start again; if it keeps happening, tell your administrator.',
  },
  PCL_CODE_EXCHANGE_FAILED: {
    status: 502,
    title: 'Sign-in could not be completed',
    advice:
      'The identity provider did not accept the sign-in. Try again; if it keeps failing, tell your administrator.',
  },
  PCL_ID_TOKEN_INVALID: {
    status: 502,
    title: 'Your sign-in could not be verified',
    advice: 'The identity provider’s answer did not pass verification. Tell your administrator.',
  },
  PCL_USERINFO_FAILED: {
    status: 502,
    title: 'Your profile could not be loaded',
    advice: 'The identity provider did not return your profile. Try again in a moment.',
  },
  PCL_IDP_UNREACHABLE: {
    status: 502,
    title: 'The identity provider cannot be reached',
    advice:
      'Sign-in is unavailable right now. Try again in a moment; if it persists, tell your administrator.',
  },
  PCL_PROVIDER_UNKNOWN: {
    status: 400,
    title: 'Unknown sign-in method',
    advice: 'The link names a sign-in method that is not configured. Pick one on the sign-in page.',
  },
  PCL_UNAUTHENTICATED: {
    status: 401,
    title: 'Sign-in required',
    advice: 'Sign in and try again.',
  },
  PCL_BEARER_INVALID: {
    status: 401,
    title: 'The access token was refused',
    advice:
      'The request carried an Authorization: Bearer token that is not valid here. Get a new token from your identity provider; the WWW-Authenticate header says what was wrong.',
  },
  PCL_FORBIDDEN: {
    status: 403,
    title: 'You do not have access',
    advice:
      'Your identity provider confirmed who you are, but the access rules do not let you in here. Ask your administrator for access; the reasons below say what is missing.',
  },
  PCL_ISSUER_REQUEST_INVALID: {
    status: 400,
    title: 'The service’s sign-in request was refused',
    advice:
      'The service that sent you here asked for something Portcullis does not allow; the detail below says what. Tell the service’s owner.',
  },
  PCL_ISSUER_INTERACTION_EXPIRED: {
    status: 400,
    title: 'This sign-in to the service has expired',
    advice:
      'The sign-in took too long, was already finished, or was started in another browser. Go back to the service and sign in again.',
  },
  PCL_NO_UPSTREAM: {
    status: 404,
    title: 'Nothing is served here',
    advice: 'No application is configured for this address. Check the link.',
  },
  PCL_UPSTREAM_UNAVAILABLE: {
    status: 502,
    title: 'The application is not answering',
    advice: 'The application behind the gateway could not be reached. Try again in a moment.',
  },
  PCL_UPSTREAM_TIMEOUT: {
    status: 504,
    title: 'The application took too long',
    advice: 'The application behind the gateway did not answer in time. Try again in a moment.',
  },
  PCL_SESSION_STORE_UNAVAILABLE: {
    status: 503,
    title: 'Sessions are unavailable right now',
    advice:
      'The gateway cannot reach the store that keeps sign-in sessions. Try again in a moment; if it persists, tell your administrator the request id.',
  },
  PCL_CROSS_SITE: {
    status: 403,
    title: 'This request came from another site',
    advice:
      'Signing out is only done from a Portcullis page. Open the sign-out page and press the button there.',
  },
  PCL_BAD_REQUEST: {
    status: 400,
    title: 'Bad request',
    advice: 'The request could not be understood. Check the address.',
  },
  PCL_AMBIGUOUS_PATH: {
    status: 400,
    title: 'This address can be read more than one way',
    advice:
      'The address contains a fragment (#), dot segments (.. or .), or characters that servers read differently. Use the plain address.',
  },
  PCL_FORWARD_AUTH_NO_PATH: {
    status: 400,
    title: 'The proxy did not say which page was asked for',
    advice:
      'The proxy in front asked for a sign-in check without the original address. Tell your administrator.',
  },
  PCL_NOT_FOUND: {
    status: 404,
    title: 'No such page',
    advice: 'This address belongs to the gateway itself and nothing is served here. Check the link.',
  },
  PCL_REQUEST_TIMEOUT: {
    status: 408,
    title: 'The request took too long to arrive',
    advice: 'Your connection stopped sending the request. Check your network and try again.',
  },
  PCL_TOO_MANY_CONNECTIONS: {
    status: 503,
    title: 'The gateway is busy',
    advice: 'Too many connections are open right now. Try again in a few seconds.',
  },
  PCL_METHOD_NOT_ALLOWED: {
    status: 405,
    title: 'Method not allowed',
    advice: 'This endpoint does not accept that HTTP method.',
  },
  PCL_INTERNAL: {
    status: 500,
    title: 'Something went wrong',
    advice:
      'An unexpected error occurred. Try again; if it keeps happening, tell your administrator the request id.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** A runtime failure with a registered code, a public message and private detail for the log. */
export class PortcullisError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Technical detail for the log only; never shown to users. */
  readonly detail: string;
  constructor(code: ErrorCode, detail: string, options?: { cause?: unknown }) {
    super(`${code}: ${detail}`, options);
    this.name = 'PortcullisError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.detail = detail;
  }
}
