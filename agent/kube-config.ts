// The Kubernetes client configuration every osfleet process uses (agent, controller, `plan
// --kubeconfig`): @kubernetes/client-node with one connection pool per process. Version 2 of the
// library builds a new undici Agent for every request and watch, so each one opened its own TLS
// connection, and a 1,000-object apply held a thousand of them (and their TLS state) until they
// idled out: +70 MiB of controller RSS in the sync benchmark. The first Agent is kept and reused.
import { KubeConfig } from '../api/client-node.js';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];
type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export class PooledKubeConfig extends KubeConfig {
  private pool: { key: string; dispatcher: Dispatcher } | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getDispatcher();
    if (!made) return;
    // Keyed like the library's own (https.Agent) cache: a different cluster or user gets its own pool.
    const key = JSON.stringify([this.getCurrentCluster()?.name, this.getCurrentUser()?.name]);
    if (this.pool?.key === key) context.setDispatcher(this.pool.dispatcher);
    else {
      void this.pool?.dispatcher.close();
      this.pool = { key, dispatcher: made };
    }
  }

  /** Closes the pooled connections (shutdown). */
  async closePool(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    await p?.dispatcher.close();
  }
}
