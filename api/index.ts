// The osfleet API: schemas, types and names. Importable without side effects.
export * from './meta.js';
export * from './common.js';
export * from './documents.js';
export * from './resources.js';
export * from './conditions.js';
