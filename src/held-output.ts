import { Writable } from 'node:stream'

/**
 * The step's log while the build streams into it: everything else the
 * step writes to stdout waits, in order, until release(). The runner
 * reads one stream, so a repository lookup or a login reported while
 * docker prints its steps would land inside the build's lines. Masks are
 * the exception: a mask the runner has not seen yet protects nothing, so
 * `::add-mask::` lines pass at once.
 */
export interface HeldOutput {
  /** A stream straight to the log, for the build's own output. */
  readonly log: Writable
  /** Writes held output in order and lets stdout through again; once. */
  release: () => void
}

const MASK_COMMAND = '::add-mask::'

export function holdOutput(
  stream: NodeJS.WriteStream = process.stdout
): HeldOutput {
  // The stream's own write, as it is now (an instance property if someone
  // replaced it before, else the prototype's).
  const ownWrite = Object.prototype.hasOwnProperty.call(stream, 'write')
  const original = stream.write
  const direct = (chunk: string | Uint8Array): void => {
    original.call(stream, chunk)
  }
  const held: (string | Uint8Array)[] = []
  let released = false

  stream.write = ((
    chunk: string | Uint8Array,
    encodingOrCallback?: BufferEncoding | ((error?: Error | null) => void),
    callback?: (error?: Error | null) => void
  ): boolean => {
    const done =
      typeof encodingOrCallback === 'function' ? encodingOrCallback : callback
    if (typeof chunk === 'string' && chunk.startsWith(MASK_COMMAND)) {
      direct(chunk)
    } else if (
      typeof chunk === 'string' &&
      typeof encodingOrCallback === 'string'
    ) {
      held.push(Buffer.from(chunk, encodingOrCallback))
    } else {
      held.push(chunk)
    }
    done?.()
    return true
  }) as typeof stream.write

  return {
    log: new Writable({
      write(chunk: Buffer, _encoding, next) {
        direct(chunk)
        next()
      }
    }),
    release() {
      if (released) return
      released = true
      if (ownWrite) stream.write = original
      else delete (stream as { write?: unknown }).write
      for (const chunk of held.splice(0)) direct(chunk)
    }
  }
}
