// Test-only: whether a host-level test (loop devices, network namespaces, GRUB tools, root) may be
// skipped when its capability is missing. Locally as a normal user it may, with a warning; in CI and
// whenever the tests run as root (the README's `npm test` on a prepared host) a missing capability
// is a broken host, and the test file fails instead of passing by skipping.

export type Env = Record<string, string | undefined>;

/** Why host-level tests must run here, or undefined when they may be skipped. */
export function hostTestsRequired(env: Env = process.env, uid: number | undefined = process.getuid?.()): string | undefined {
  if (env.CI !== undefined && env.CI !== '' && env.CI !== 'false') return 'CI is set';
  if (env.OSFLEET_HOST_TESTS === 'required') return 'OSFLEET_HOST_TESTS=required';
  if (env.OSFLEET_HOST_TESTS === 'optional') return undefined;
  if (uid === 0) return 'the tests run as root';
  return undefined;
}

/**
 * For `describe.skipIf(skipUnlessRequired(...) !== undefined)`: undefined when the capability is
 * there; its reason (and a warning) when it is not and skipping is allowed; throws when it is not
 * and host tests are required, so the test file fails with the reason and the fix.
 */
export function skipUnlessRequired(what: string, unavailable: string | undefined, env: Env = process.env, uid: number | undefined = process.getuid?.()): string | undefined {
  if (unavailable === undefined) return undefined;
  const required = hostTestsRequired(env, uid);
  if (required !== undefined) {
    throw new Error(
      `${what} cannot run: ${unavailable}. ${required}, so a skip would hide a broken host: ` +
        'prepare it (hack/deps.sh installs the packages; loop devices and network namespaces need a privileged container or VM)' +
        (env.CI ? '' : ', or set OSFLEET_HOST_TESTS=optional to skip them knowingly'),
    );
  }
  console.warn(`SKIPPED ${what}: ${unavailable}`);
  return unavailable;
}

/** Test seam for the skip rule itself: pretend these capabilities (comma-separated names) are missing. */
export function hiddenForTest(name: string, env: Env = process.env): boolean {
  return (env.OSFLEET_TEST_HIDE_CAPABILITY ?? '').split(',').includes(name);
}
