import { describe, expect, jest, test } from '@jest/globals'

import { holdOutput } from '../../src/held-output.js'

/** A stand-in for process.stdout that records what reaches the log. */
function fakeStdout(): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = []
  const stream = {
    write: jest.fn((chunk: string | Uint8Array) => {
      written.push(Buffer.from(chunk).toString('utf8'))
      return true
    })
  } as unknown as NodeJS.WriteStream
  return { stream, written }
}

describe('holdOutput', () => {
  test('holds stdout until release, then writes it in order', () => {
    const { stream, written } = fakeStdout()
    const held = holdOutput(stream)

    stream.write('::group::Repository\n')
    stream.write(Buffer.from('Found repository\n'))
    stream.write('ab', 'hex')
    expect(written).toEqual([])

    held.release()
    expect(written).toEqual([
      '::group::Repository\n',
      'Found repository\n',
      Buffer.from('ab', 'hex').toString('utf8')
    ])
  })

  test('lets masks through at once: a late mask protects nothing', () => {
    const { stream, written } = fakeStdout()
    const held = holdOutput(stream)

    stream.write('Logged in\n')
    stream.write('::add-mask::s3cret\n')

    expect(written).toEqual(['::add-mask::s3cret\n'])
    held.release()
    expect(written).toEqual(['::add-mask::s3cret\n', 'Logged in\n'])
  })

  test('its log stream writes straight through while stdout is held', async () => {
    const { stream, written } = fakeStdout()
    const held = holdOutput(stream)

    stream.write('held\n')
    await new Promise<void>(resolve =>
      held.log.write('Step 1/2\n', () => resolve())
    )

    expect(written).toEqual(['Step 1/2\n'])
    held.release()
    expect(written).toEqual(['Step 1/2\n', 'held\n'])
  })

  test('calls write callbacks, as a stream would', () => {
    const { stream } = fakeStdout()
    const held = holdOutput(stream)
    const done = jest.fn()

    stream.write('x\n', done)
    stream.write('y\n', 'utf8', done)

    expect(done).toHaveBeenCalledTimes(2)
    held.release()
  })

  test('restores the stream, and a second release writes nothing twice', () => {
    const { stream, written } = fakeStdout()
    const original = stream.write
    const held = holdOutput(stream)
    stream.write('once\n')

    held.release()
    held.release()
    stream.write('after\n')

    expect(stream.write).toBe(original)
    expect(written).toEqual(['once\n', 'after\n'])
  })

  test('restores a write that came from the prototype', () => {
    const written: string[] = []
    class Stream {
      write(chunk: string): boolean {
        written.push(chunk)
        return true
      }
    }
    const stream = new Stream() as unknown as NodeJS.WriteStream
    const held = holdOutput(stream)
    stream.write('held\n')

    held.release()

    expect(Object.prototype.hasOwnProperty.call(stream, 'write')).toBe(false)
    stream.write('after\n')
    expect(written).toEqual(['held\n', 'after\n'])
  })
})
