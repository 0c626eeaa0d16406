// The one way shipped code reaches @kubernetes/client-node: every value it uses is re-exported here
// (types may still be imported from the package, they vanish at build time).
//
// Why: loading the package's index pulls in every generated API group and model, about 60 MiB of
// RSS on Node 24 before the process does anything. `npm run build` replaces the compiled module,
// dist/api/client-node.js, with a tree-shaken bundle of exactly these names (hack/bundle-client-node.mjs),
// which loads in about 30 MiB, and the controller and the agent run on that bundle. Tests that import
// the TypeScript sources get the package itself; both expose the same classes.
//
// Adding a name here grows every process: prefer controller/kube/client.ts (plain JSON over one
// pooled connection) to another generated API class. A unit test keeps other modules from importing
// the package's values directly, which would load the whole package beside the bundle.
export {
  CoordinationV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  V1MicroTime,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
