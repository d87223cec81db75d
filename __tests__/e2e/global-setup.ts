/**
 * Global setup of the e2e project. The e2e tests build and tag images in
 * the engine they share with everything else on the machine. Left there,
 * they pile up run after run, and the legacy builder's cache lookup, which
 * goes through every image, slows down with them: with a thousand images
 * in the engine, a cached build of a two-line Dockerfile took 2.5 times as
 * long as with fifteen. This setup notes the images there are, and the
 * temporary directories, and leaves the teardown (global-teardown.ts) a
 * function that removes the tags in the tests' own namespaces, the
 * untagged images the run left behind and the test directories it made,
 * nothing else. Jest loads the two files apart, without this project's
 * module mapping, so they share the function through globalThis instead
 * of an import.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface EngineImage {
  /** The full image ID. */
  id: string
  /** repository:tag references; none for an untagged image. */
  references: string[]
}

// Repositories the e2e tests push to (any registry host, and the public
// alias), and the local names they build under.
const TEST_REFERENCE = /^(?:[^/]+\/(?:localecr\/)?e2e\/|e2e-local-)/

export function isTestReference(reference: string): boolean {
  return TEST_REFERENCE.test(reference)
}

/**
 * What to remove: every reference in the tests' namespaces, and by ID the
 * untagged images that were not there before the run (a rebuilt tag
 * leaves its old image untagged). Untagged images older than the run,
 * and every other tag, are not the tests' to remove.
 */
export function testImagesToRemove(
  before: ReadonlySet<string>,
  now: EngineImage[]
): { references: string[]; ids: string[] } {
  const references: string[] = []
  const ids: string[] = []
  for (const image of now) {
    references.push(...image.references.filter(isTestReference))
    if (image.references.length === 0 && !before.has(image.id)) {
      ids.push(image.id)
    }
  }
  return { references, ids }
}

/** The engine's images, intermediate ones included; [] without docker. */
export function listImages(): EngineImage[] {
  const listed = spawnSync(
    'docker',
    [
      ...['image', 'ls', '--all', '--no-trunc'],
      ...['--format', '{{.ID}} {{.Repository}}:{{.Tag}}']
    ],
    { encoding: 'utf8' }
  )
  if (listed.status !== 0) return []
  const images = new Map<string, EngineImage>()
  for (const line of listed.stdout.split('\n')) {
    const [id, reference] = line.trim().split(' ')
    if (!id || !reference) continue
    const image = images.get(id) ?? { id, references: [] }
    if (!reference.includes('<none>')) image.references.push(reference)
    images.set(id, image)
  }
  return [...images.values()]
}

/**
 * Removes them: the references first (an image goes with its last tag,
 * often taking untagged parents with it), then, listed again, the untagged
 * images still there. What cannot go (an image a container uses, or one
 * another image is built on) stays. Counts images: how many the run had
 * added are gone, and how many of the tests' are left.
 */
export function removeTestImages(before: ReadonlySet<string>): {
  removed: number
  left: number
} {
  const added = (images: EngineImage[]): number =>
    images.filter(image => !before.has(image.id)).length
  const start = listImages()
  removeAll(testImagesToRemove(before, start).references)
  removeAll(testImagesToRemove(before, listImages()).ids)
  const end = listImages()
  const remaining = testImagesToRemove(before, end)
  return {
    removed: added(start) - added(end),
    left: remaining.references.length + remaining.ids.length
  }
}

/** docker image rm, a hundred references or IDs at a time. */
function removeAll(names: string[]): void {
  for (let at = 0; at < names.length; at += 100) {
    spawnSync('docker', ['image', 'rm', ...names.slice(at, at + 100)])
  }
}

/**
 * The temporary directories the tests make (workspaces, docker configs,
 * stand-in programs) all start so; the run's own are those that were not
 * there before it.
 */
const TEST_DIR = /^ecr-push-e2e-/

export function testDirsToRemove(
  before: ReadonlySet<string>,
  now: string[]
): string[] {
  return now.filter(name => TEST_DIR.test(name) && !before.has(name))
}

function removeTestDirs(before: ReadonlySet<string>): number {
  const names = testDirsToRemove(before, readdirSync(tmpdir()))
  for (const name of names) {
    rmSync(join(tmpdir(), name), { recursive: true, force: true })
  }
  return names.length
}

/** What the teardown reports: images removed and left, directories removed. */
export interface Removed {
  removed: number
  left: number
  dirs: number
}

/** Where the setup leaves the teardown its work. */
export const TEARDOWN = Symbol.for('ecr-push-action.e2e-teardown')

/** Notes the engine's images and the temporary directories before any test. */
export default function globalSetup(): void {
  const images = new Set(listImages().map(image => image.id))
  const dirs = new Set(readdirSync(tmpdir()))
  ;(globalThis as Record<symbol, unknown>)[TEARDOWN] = (): Removed => ({
    ...removeTestImages(images),
    dirs: removeTestDirs(dirs)
  })
}
