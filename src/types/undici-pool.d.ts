// undici's Pool and its stream() alone (issue 14, memory): `import { Pool } from 'undici'` loads the whole
// package — fetch, WebSocket, EventSource, the cache and mock agents — about 15 MB of resident memory the
// proxy never uses. These are the modules undici's index itself exports (it has no `exports` map, so the
// paths are reachable); their types are undici's own. The index also copies the request API onto
// Dispatcher.prototype; src/proxy/forward.ts calls stream() on the pool instead of relying on that.
declare module 'undici/lib/dispatcher/pool.js' {
  import type { Pool } from 'undici';

  const PoolClass: typeof Pool;
  export default PoolClass;
}

declare module 'undici/lib/api/api-stream.js' {
  import type { Dispatcher } from 'undici';

  /**
   * Dispatcher.prototype.stream, called with the dispatcher as `this`: a promise, or with a callback (called
   * once, also for an error thrown while starting; then nothing is returned).
   */
  function stream(
    this: Dispatcher,
    options: Dispatcher.RequestOptions,
    factory: Dispatcher.StreamFactory,
  ): Promise<Dispatcher.StreamData>;
  function stream(
    this: Dispatcher,
    options: Dispatcher.RequestOptions,
    factory: Dispatcher.StreamFactory,
    callback: (err: Error | null, data: Dispatcher.StreamData) => void,
  ): void;
  export default stream;
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici';

  /** Dispatcher.prototype.request, called with the dispatcher as `this` (src/idp/fetch.ts). */
  const request: (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
  export default request;
}

declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';

  const AgentClass: typeof Agent;
  export default AgentClass;
}

declare module 'undici/lib/dispatcher/env-http-proxy-agent.js' {
  import type { EnvHttpProxyAgent } from 'undici';

  const EnvHttpProxyAgentClass: typeof EnvHttpProxyAgent;
  export default EnvHttpProxyAgentClass;
}
