// Raw JSON requests to the apiserver with a KubeConfig's credentials.
//
// Why not the typed clients: @kubernetes/client-node 1.x serialises request
// bodies through its model classes, which know `enum`, `default`, `$ref`,
// `not` and `x-kubernetes-*` schema keys only under their renamed TypeScript
// names (`_enum`, `xKubernetesPreserveUnknownFields`, ...). A
// CustomResourceDefinition read from YAML and passed to
// ApiextensionsV1Api / KubernetesObjectApi silently loses those keys. Manifests
// from files therefore go over the wire as-is.
import { request, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface RawResponse {
  status: number;
  body: string;
  json<T = unknown>(): T;
}

export async function kubeRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<RawResponse> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(path, cluster.server);
  const opts: RequestOptions = { method, headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  if (payload !== undefined) opts.headers = { ...opts.headers, 'content-type': contentType };
  return new Promise((resolve, reject) => {
    const req = request(url, opts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: text, json: <T>() => JSON.parse(text) as T }),
      );
    });
    req.on('error', reject);
    req.end(payload);
  });
}
