import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

/** A running process, as the system lists it. */
export interface ProcessEntry {
  pid: number
  ppid: number
  /** The command line, arguments joined by spaces. */
  command: string
}

/**
 * Every process this one started, directly or through them (docker and
 * the plugins docker runs). @actions/exec does not hand out the child it
 * spawns, so the system's process table is the only way to find it.
 */
export async function descendants(
  root: number = process.pid
): Promise<ProcessEntry[]> {
  return descendantsOf(await processTable(), root)
}

/** The processes below `root` in a table, parents before children. */
export function descendantsOf(
  table: ProcessEntry[],
  root: number
): ProcessEntry[] {
  const found: ProcessEntry[] = []
  const parents = new Set([root])
  // A parent always comes before its children in the result; a table
  // whose ppids form a cycle (pids reused mid-listing) still ends.
  for (let grew = true; grew;) {
    grew = false
    for (const entry of table) {
      if (parents.has(entry.ppid) && !parents.has(entry.pid)) {
        parents.add(entry.pid)
        found.push(entry)
        grew = true
      }
    }
  }
  return found
}

/** `ps -A -ww -o pid=,ppid=,args=` output as entries. */
export function parsePs(output: string): ProcessEntry[] {
  const entries: ProcessEntry[] = []
  for (const line of output.split('\n')) {
    const match = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)
    if (!match) continue
    entries.push({
      pid: Number(match[1]),
      ppid: Number(match[2]),
      command: (match[3] ?? '').trim()
    })
  }
  return entries
}

/**
 * Linux has the table in /proc, which needs no helper program (minimal
 * runner images may lack ps); elsewhere (macOS) ps is always there.
 */
async function processTable(): Promise<ProcessEntry[]> {
  if (process.platform === 'linux') {
    try {
      return procTable()
    } catch {
      // No /proc (an unusual sandbox): ps may still work.
    }
  }
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      'ps',
      ['-A', '-ww', '-o', 'pid=,ppid=,args='],
      { timeout: 5000, maxBuffer: 16 << 20 },
      (error, stdout) => (error ? reject(error) : resolve(stdout))
    )
  })
  return parsePs(output)
}

function procTable(): ProcessEntry[] {
  const entries: ProcessEntry[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(path.join('/proc', name, 'stat'), 'utf8')
      // The command name in parentheses may hold spaces and parentheses:
      // the fields after the last ")" are the reliable ones.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const cmdline = readFileSync(path.join('/proc', name, 'cmdline'))
      entries.push({
        pid: Number(name),
        ppid: Number(fields[1]),
        command: cmdline.toString('utf8').split('\0').join(' ').trim()
      })
    } catch {
      // The process ended while the table was read.
    }
  }
  return entries
}

/**
 * The processes of one docker call: the docker CLI started with these
 * arguments and everything below it. When none matches (a wrapper script
 * that does not exec, say), every process below this one, so that a
 * stuck call is never left running.
 */
export async function dockerCallProcesses(
  args: string[]
): Promise<ProcessEntry[]> {
  const below = await descendants()
  const wanted = args.join(' ')
  const call = below.find(entry => {
    const [program = '', ...rest] = entry.command.split(' ')
    return path.basename(program) === 'docker' && rest.join(' ') === wanted
  })
  return call ? [call, ...descendantsOf(below, call.pid)] : below
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, under another user; ESRCH: it is gone.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name)
  } catch {
    // Gone already, or not ours to signal.
  }
}

/**
 * Asks processes to stop with SIGTERM (the docker CLI then cancels its
 * request, and the daemon stops the build or push), waits up to graceMs
 * for them, then ends the rest with SIGKILL.
 */
export async function stopProcesses(
  entries: ProcessEntry[],
  graceMs: number
): Promise<void> {
  const pids = entries.map(entry => entry.pid)
  for (const pid of pids) signal(pid, 'SIGTERM')

  const deadline = Date.now() + graceMs
  while (pids.some(alive) && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  for (const pid of pids.filter(alive)) signal(pid, 'SIGKILL')
}
