/**
 * Provider types by name: `type` in a `providers` entry selects the module. Each module is its base
 * (OpenID Connect or plain OAuth2) plus its declared differences; docs/providers/<type>.md is its guide.
 */
import type { ResolvedProvider, ResolvedProviderOf } from '../config/providers.ts';
import type { ProviderType } from '../config/schema.ts';
import { EntraProvider } from './entra.ts';
import { GithubProvider } from './github.ts';
import { GitlabProvider } from './gitlab.ts';
import { GoogleProvider } from './google.ts';
import { JupyterhubProvider } from './jupyterhub.ts';
import { KeycloakProvider } from './keycloak.ts';
import { MappedOAuth2Provider } from './oauth2.ts';
import { OidcProvider } from './oidc.ts';
import type { IdentityProvider, ProviderOptions } from './provider.ts';

type Factory<T extends ProviderType> = (
  config: ResolvedProviderOf<T>,
  opts: ProviderOptions,
) => IdentityProvider;

const REGISTRY: { readonly [T in ProviderType]: Factory<T> } = {
  oidc: (c, o) => new OidcProvider(c, o),
  github: (c, o) => new GithubProvider(c, o),
  google: (c, o) => new GoogleProvider(c, o),
  entra: (c, o) => new EntraProvider(c, o),
  gitlab: (c, o) => new GitlabProvider(c, o),
  keycloak: (c, o) => new KeycloakProvider(c, o),
  jupyterhub: (c, o) => new JupyterhubProvider(c, o),
  oauth2: (c, o) => new MappedOAuth2Provider(c, o),
};

export function createProvider(config: ResolvedProvider, opts: ProviderOptions): IdentityProvider {
  const factory = REGISTRY[config.type] as Factory<typeof config.type>;
  return factory(config as never, opts);
}
