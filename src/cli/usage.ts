/**
 * The commands' usage lines, in a module of their own: `portcullis --help` and a usage error print them
 * without loading the commands (the doctor, the stores, the demo's IdP), and `serve` loads only itself.
 */
import { ACTIVATION_DELAY_SECONDS } from '../keys/timing.ts';

export const CHECK_USAGE = `  check [options] [--offline] [--json]
                             test the configuration against the live IdP, upstreams and stores`;

export const KEYS_USAGE = `  keys list [options]        list the signing keys of the issuer and of upstream assertions
                             (in the configured storage), each pending, active, retired or expired
  keys rotate [options] [--now] [--discard-unreadable]
                             add new signing keys: published at once, signing ${ACTIVATION_DELAY_SECONDS / 60} minutes later
                             (once every instance publishes them); the current ones sign until then and
                             verify until the tokens and assertions they signed expire. --now: sign at
                             once (emergency: instances that have not polled yet do not publish them)`;

export const SECRET_USAGE = `  secret [--client]          print a new random cookie secret (32 bytes, base64url); with --client,
                             a client secret for a service in issuer.clients (give it to the service)`;

export const SESSIONS_USAGE = `  sessions list|revoke --user SUB [--provider ID] [options]
                             a user's server-side sessions and issuer grants (SUB: the provider's user
                             id, as in X-Forwarded-User); revoke ends them all, on every instance`;

export const EXPLAIN_USAGE = `  explain [options] [--provider ID] --email E [--groups a,b] [--claim k=v ...]
          [--path /p ... [--forward-auth] | --client ID] [--json]
                             the access decision for a user and a path (or sign-in, or an issuer
                             client), layer by layer; exit 0 allowed, 1 denied, 2 usage/config error
          more of the user: --unverified (the e-mail is not verified), --username U, --sub S,
          --orgs a,b --teams org/t --projects p (GitHub/GitLab), --tenant T (Entra tid, Google hd);
          or a service: --machine CLIENT_ID (a client_credentials token of the issuer)
  explain [options] --what-if CHANGE.yaml [--decisions DECISIONS.json] [--email E ...] [--json]
                             which recorded decisions (and the user described, at sign-in and
                             every ruled route) a changed allow/routes would turn;
                             exit 0 none, 1 some, 2 usage/config error`;
