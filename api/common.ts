// Schema pieces reused by the git documents and the CRDs: selectors, conditions, windows, int-or-percent.
import { Type, type Static, type TSchema, type SchemaOptions } from '@sinclair/typebox';

/** Marks a schema as Kubernetes int-or-string; the CRD generator emits `x-kubernetes-int-or-string`. */
export const INT_OR_STRING = 'x-kubernetes-int-or-string';

export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** Go-style duration: 90s, 30m, 4h, 1h30m, 500ms. */
export const GO_DURATION = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$';
export const PERCENT = '^[0-9]+%$';
export const SHA256_HEX = '^[a-f0-9]{64}$';

export const Duration = (options: SchemaOptions = {}) =>
  Type.String({ pattern: GO_DURATION, description: 'Go-style duration, e.g. 90s, 30m, 4h, 1h30m.', ...options });

/** An integer, or a percent string such as "10%". */
export const IntOrPercent = (options: SchemaOptions = {}) =>
  Type.Union([Type.Integer(), Type.String({ pattern: PERCENT })], { [INT_OR_STRING]: true, ...options });

export const LabelSelectorRequirement = Type.Object(
  {
    key: Type.String({ minLength: 1, description: 'Label key.' }),
    operator: Type.Union(
      [Type.Literal('In'), Type.Literal('NotIn'), Type.Literal('Exists'), Type.Literal('DoesNotExist')],
      { description: 'In, NotIn, Exists or DoesNotExist.' },
    ),
    values: Type.Optional(Type.Array(Type.String(), { description: 'Values for In / NotIn; empty for Exists / DoesNotExist.' })),
  },
  { additionalProperties: false },
);

export const LabelSelector = Type.Object(
  {
    matchLabels: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Labels a node must carry with exactly these values.' })),
    matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirement, { description: 'Set-based requirements, all must hold.' })),
  },
  { additionalProperties: false, description: 'A Kubernetes label selector over Node labels; {} selects every node.' },
);
export type LabelSelector = Static<typeof LabelSelector>;

export const Window = Type.Object(
  {
    schedule: Type.String({ minLength: 1, description: 'Start times as a 5-field cron expression (minute hour day-of-month month day-of-week).' }),
    duration: Duration({ description: 'How long the window stays open after each start (Go-style duration; at most 168h for maintenance windows).' }),
    timeZone: Type.Optional(Type.String({ minLength: 1, description: 'IANA time zone the schedule is read in, e.g. Europe/Berlin. Default UTC.' })),
  },
  { additionalProperties: false },
);
export type Window = Static<typeof Window>;

export const Condition = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    status: Type.Union([Type.Literal('True'), Type.Literal('False'), Type.Literal('Unknown')]),
    reason: Type.String({ minLength: 1, description: 'CamelCase reason a person can search for.' }),
    message: Type.String({ description: 'Human-readable details.' }),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    lastTransitionTime: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type Condition = Static<typeof Condition>;

export const Conditions = Type.Array(Condition, {
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

export const ImageRef = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'http(s) URL of the raw root filesystem image.' }),
    sha256: Type.String({ pattern: SHA256_HEX, description: 'Pinned sha256 digest of the image (64 lowercase hex characters).' }),
    size: Type.Optional(Type.Integer({ minimum: 1, description: 'Image size in bytes (optional; used for progress and to refuse a slot that is too small).' })),
  },
  { additionalProperties: false },
);
export type ImageRef = Static<typeof ImageRef>;

export const KernelArgs = Type.Object(
  {
    add: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Kernel command-line arguments to add, e.g. transparent_hugepage=never.' })),
    remove: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Kernel command-line arguments to remove (by exact text, or by name when given without "=").' })),
  },
  { additionalProperties: false },
);
export type KernelArgs = Static<typeof KernelArgs>;

export const ObjectRefByName = Type.Object({ name: Type.String({ minLength: 1 }) }, { additionalProperties: false });

export function optionalArray<T extends TSchema>(item: T, description: string) {
  return Type.Optional(Type.Array(item, { description }));
}
