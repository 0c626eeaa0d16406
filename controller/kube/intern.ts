// Shares equal values between cached objects. Ten thousand OSNodes usually carry a handful of
// distinct targets and settings, and Nodes repeat the same label values: keeping one copy of each
// is most of what makes a large cache small. Bounded: past `max` entries it starts over.
export class Interner {
  private strings = new Map<string, string>();
  private values = new Map<string, unknown>();

  constructor(private readonly max = 100_000) {}

  str<S extends string | undefined>(s: S): S {
    if (s === undefined) return s;
    const hit = this.strings.get(s);
    if (hit !== undefined) return hit as S;
    if (this.strings.size >= this.max) this.strings.clear();
    this.strings.set(s, s);
    return s;
  }

  /** One shared instance per distinct JSON value; callers must treat the result as read-only. */
  value<T>(v: T): T {
    if (v === undefined || v === null || typeof v !== 'object') return v;
    const k = JSON.stringify(v);
    const hit = this.values.get(k);
    if (hit !== undefined) return hit as T;
    if (this.values.size >= this.max) this.values.clear();
    this.values.set(k, v);
    return v;
  }

  /** A string map with interned values (keys from JSON.parse are interned by V8 already). */
  record(r: Record<string, string> | undefined): Record<string, string> | undefined {
    if (!r) return r;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(r)) out[k] = this.str(v);
    return out;
  }
}
