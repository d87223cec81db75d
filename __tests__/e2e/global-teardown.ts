/** Removes what the e2e tests left behind (see global-setup.ts). */
export default function globalTeardown(): void {
  const teardown = (globalThis as Record<symbol, unknown>)[
    Symbol.for('ecr-push-action.e2e-teardown')
  ] as (() => { removed: number; left: number; dirs: number }) | undefined
  if (!teardown) return
  const { removed, left, dirs } = teardown()
  if (removed || left || dirs) {
    process.stderr.write(
      `e2e: removed ${removed} test image(s) from the engine` +
        (left ? ` (${left} of theirs could not be removed)` : '') +
        ` and ${dirs} temporary directories\n`
    )
  }
}
