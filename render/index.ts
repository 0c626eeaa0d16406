// The renderer's public face: load a repository (directory, git commit or files in memory), validate it,
// and render it into OS / OSConfig objects. The controller, `osfleet render|validate|diff` and `plan` use this.
import { createHash } from 'node:crypto';
import type { Diagnostic } from './diagnostics.js';
import { loadDirectory, loadGitCommit, type GitLocation, type LoadResult, type SourceFile } from './load.js';
import { renderDocuments, type RenderedObject } from './render.js';
import { validate, type ValidDocument, type ValidateOptions } from './validate.js';
import { compareDiagnostics } from './diagnostics.js';

export type RepositorySource =
  /** A directory on disk (the repository's working tree, or any folder of YAML files). */
  | string
  | { type: 'directory'; dir: string; path?: string }
  /** A commit of a local git clone, read with isomorphic-git (the working tree is not touched). */
  | ({ type: 'git' } & GitLocation)
  /** Files already in memory (paths relative to the repository root). */
  | { type: 'files'; files: SourceFile[] };

export interface LoadAndRenderOptions extends ValidateOptions {
  /** Revision to annotate objects with. Default: the commit id for a git source, else a digest of the files. */
  revision?: string;
  /** FleetSource name, added as a label to every object. */
  fleetSource?: string;
  /** Render the valid part of a revision that has errors (for reports). Default false: no objects on errors. */
  partial?: boolean;
}

export interface RenderResult {
  /** OS objects (by name), then OSConfig objects (by name). Empty when there are errors, unless `partial`. */
  objects: RenderedObject[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** The revision objects were annotated with. */
  revision: string;
  /** Documents that passed validation, for reports (e.g. the diff's view of a policy). */
  documents: ValidDocument[];
  /** The YAML files read. */
  files: SourceFile[];
}

/** A digest of a set of files (path and content), used as the revision of a plain directory. */
export function contentRevision(files: readonly SourceFile[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    h.update(`${f.path}\u0000${f.bytes.length}\u0000`);
    h.update(f.bytes);
  }
  return `sha256:${h.digest('hex')}`;
}

/** Validate and render files already loaded. Pure: no I/O besides reading the shipped catalogue once. */
export function validateAndRender(files: SourceFile[], opts: LoadAndRenderOptions & { loadErrors?: Diagnostic[]; commit?: string } = {}): RenderResult {
  const v = validate(files, opts);
  const errors = [...(opts.loadErrors ?? []), ...v.errors].sort(compareDiagnostics);
  const revision = opts.revision ?? opts.commit ?? contentRevision(files);
  const objects =
    errors.length === 0 || opts.partial
      ? renderDocuments(v.documents, { revision, ...(opts.fleetSource ? { fleetSource: opts.fleetSource } : {}) })
      : [];
  return { objects, errors, warnings: v.warnings, revision, documents: v.documents, files };
}

/** Read the YAML files of a source. */
export async function loadSource(source: RepositorySource): Promise<LoadResult> {
  if (typeof source === 'string') return loadDirectory(source);
  switch (source.type) {
    case 'directory':
      return loadDirectory(source.dir, source.path ?? '');
    case 'git':
      return loadGitCommit(source);
    case 'files':
      return { files: [...source.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), errors: [] };
  }
}

/**
 * Load, validate and render one revision of a repository. Never throws for problems in the repository
 * (they come back as `errors`); throws only when the source itself cannot be read (e.g. unknown git ref).
 */
export async function loadAndRender(source: RepositorySource, opts: LoadAndRenderOptions = {}): Promise<RenderResult> {
  const loaded = await loadSource(source);
  return validateAndRender(loaded.files, { ...opts, loadErrors: loaded.errors, ...(loaded.commit ? { commit: loaded.commit } : {}) });
}

export { formatDiagnostic, compareDiagnostics, type Diagnostic, type Severity } from './diagnostics.js';
export { loadDirectory, loadGitCommit, resolveCommit, RevisionError, MAX_FILE_BYTES, type SourceFile, type LoadResult, type GitLocation } from './load.js';
export { parseFile, parseFiles, type ParsedDocument, type Position } from './parse.js';
export { validate, validateDocuments, type ValidDocument, type ValidationResult, type ValidateOptions } from './validate.js';
export { renderDocuments, objectsToYaml, objectToYaml, sortKeys, compareObjects, type RenderedObject, type RenderOptions } from './render.js';
export { defaultCatalogue, parseCatalogue, judgeSysctl, judgeKernelArg, sysctlNeedsReboot, type Catalogue } from './catalogue.js';
export { canonicalSelector, describeSelector, selectorsDisjoint } from './selector-analysis.js';
export { diffRenders, describeWindow, type DiffReport, type RenderSnapshot } from './diff.js';
export { formatDiffMarkdown } from './diff-markdown.js';
