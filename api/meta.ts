// Names shared by every part of osfleet: API group, version, labels and annotations.
export const GROUP = 'osfleet.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Every object osfleet renders or owns carries this label; prune only ever touches objects with it. */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'osfleet';
/** The FleetSource an object was rendered from. */
export const LABEL_FLEETSOURCE = 'osfleet.dev/fleetsource';

/** Repository file (relative path) a rendered object came from. */
export const ANNOTATION_SOURCE_FILE = 'osfleet.dev/source-file';
/** Git revision (commit id) the object was rendered from. */
export const ANNOTATION_SOURCE_REVISION = 'osfleet.dev/source-revision';

/**
 * On a FleetSource: when a replica that does not lead received a valid webhook (ISO 8601). The
 * leader watches FleetSources and fetches when it changes, so a hook reaching any replica counts.
 */
export const ANNOTATION_FETCH_REQUESTED = 'osfleet.dev/fetch-requested-at';

/**
 * On a Secret: the FleetSources (comma-separated names) that may use it as `spec.secretRef` or
 * `spec.webhookSecretRef`. Without it the controller uses the Secret for no FleetSource, so being
 * allowed to create a FleetSource is not being allowed to send any Secret of the namespace anywhere.
 */
export const ANNOTATION_SECRET_FLEETSOURCES = 'osfleet.dev/fleetsources';

/** Server-side apply field manager of the controller. */
export const FIELD_MANAGER = 'osfleet';
/** Field manager the agent uses for OSNode status. */
export const AGENT_FIELD_MANAGER = 'osfleet-agent';

export const KINDS = {
  FleetSource: 'FleetSource',
  OS: 'OS',
  OSConfig: 'OSConfig',
  OSNode: 'OSNode',
} as const;

/** Kinds a user writes in the git repository. */
export const DOCUMENT_KINDS = ['OSVersion', 'NodeSettings', 'RolloutPolicy'] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];
