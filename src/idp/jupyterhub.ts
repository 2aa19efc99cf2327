/**
 * A JupyterHub as the identity provider: the hub's OAuth2 provider, plain OAuth2. Its differences from the
 * OAuth2 base (https://jupyterhub.readthedocs.io/en/stable/explanation/oauth.html,
 * https://jupyterhub.readthedocs.io/en/stable/reference/rest-api.html):
 * - endpoints /hub/api/oauth2/authorize and /hub/api/oauth2/token under the hub URL, the client secret
 *   in the form body of the token request (client_secret_post);
 * - the user read from /hub/api/user with `Authorization: token <access token>`: the hub user's `name`
 *   is the user id and username, its `groups` the groups. Hub users have no e-mail address.
 */
import type { ResolvedProviderOf } from '../config/providers.ts';
import { PortcullisError } from '../errors/codes.ts';
import type { Identity } from '../sessions/session.ts';
import { isRecord } from './http.ts';
import { OAuth2Provider, oauth2BaseSettings } from './oauth2.ts';
import type { ProviderOptions } from './provider.ts';

export class JupyterhubProvider extends OAuth2Provider {
  constructor(config: ResolvedProviderOf<'jupyterhub'>, opts: ProviderOptions) {
    super(config, opts, {
      ...oauth2BaseSettings(config),
      authorizationUrl: `${config.issuer}/hub/api/oauth2/authorize`,
      tokenUrl: `${config.issuer}/hub/api/oauth2/token`,
    });
  }

  protected override defaultDisplayName(): string {
    return 'JupyterHub';
  }

  protected override async fetchIdentity(accessToken: string): Promise<Identity> {
    const r = await this.api({
      url: `${this.issuer}/hub/api/user`,
      accessToken,
      scheme: 'token',
      label: 'JupyterHub /hub/api/user',
    });
    if (!isRecord(r.body) || typeof r.body['name'] !== 'string') {
      throw new PortcullisError('PCL_USERINFO_FAILED', 'JupyterHub /hub/api/user: no user name');
    }
    return this.identityFrom(
      r.body,
      { sub: ['name'], email: 'email', username: 'name', name: 'name', groups: 'groups' },
      'JupyterHub /hub/api/user',
    );
  }
}
