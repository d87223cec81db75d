// Writes <dir>/licenses.txt for every package bundled in <dir>, the main
// file and the chunks loaded on demand alike, in <dir> and the bundles in
// its subdirectories. ncc writes that file once per chunk under the same
// name, so its own keeps only the last chunk's.
//
//   node .ci/licenses.mjs <bundle dir>
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const bundle = process.argv[2]
if (!bundle) throw new Error('usage: node .ci/licenses.mjs <bundle dir>')
// Source maps name files relative to dist/ in the project.
const dist = path.resolve(path.dirname(import.meta.dirname), 'dist')

const packageDirs = new Set()
const maps = readdirSync(bundle, { recursive: true }).filter(file =>
  file.endsWith('.js.map')
)
for (const file of maps) {
  const { sources } = JSON.parse(readFileSync(path.join(bundle, file), 'utf8'))
  for (const source of sources) {
    const absolute = path.resolve(dist, source)
    const match = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(absolute)
    if (match) packageDirs.add(match[1])
  }
}

const entries = [...packageDirs].map(dir => {
  const manifest = JSON.parse(
    readFileSync(path.join(dir, 'package.json'), 'utf8')
  )
  const licenseFile = readdirSync(dir).find(name => /^licen[cs]e/i.test(name))
  const text = licenseFile
    ? readFileSync(path.join(dir, licenseFile), 'utf8').trim()
    : ''
  return { name: manifest.name, license: manifest.license ?? '', text }
})

// One entry per package name, sorted, as ncc lays them out.
const byName = new Map(entries.map(entry => [entry.name, entry]))
const text = [...byName.values()]
  .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  .map(entry => `${entry.name}\n${entry.license}\n${entry.text}`)
  .join('\n\n')
writeFileSync(path.join(bundle, 'licenses.txt'), `${text}\n`)
