/** Receives a streamed upload into a temporary file before any lock is taken, refusing it once it is too big or too slow. */
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClientDisconnected, PayloadTooLarge, StorageFull, UploadTooSlow } from './errors'

export interface SpoolLimits {
  /** Refuse the body with 413 once more than this many bytes have arrived; no limit when absent. */
  maxBytes?: number
  /** Each window of `windowSeconds` must bring at least this many bytes per second, or the upload gets 408. */
  minBytesPerSecond: number
  windowSeconds: number
  /** Sees every chunk before it is kept, and refuses the body by throwing (the row-length cap). */
  check?: (chunk: Uint8Array) => void
  /** Where the file goes; the system's temporary folder by default. */
  dir?: string
}

const READ_CHUNK = 256 * 1024
const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'EFBIG'])

let spools = 0

/** An upload held whole in a temporary file that no other process can see; `close` gives its space back. */
export class SpooledBody {
  /** Bytes held. */
  size = 0
  private closed = false

  constructor(
    private readonly fd: number,
    /** Set while the file still has a name to remove (where an open file cannot be unlinked, as on Windows). */
    private readonly path: string | undefined,
  ) {}

  /** The body again, read synchronously: a local file never waits on the client. Each chunk is a new buffer. */
  *chunks(): Generator<Uint8Array> {
    for (let position = 0; position < this.size; ) {
      const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, this.size - position))
      const read = readSync(this.fd, buffer, 0, buffer.length, position)
      if (read === 0) return
      position += read
      yield buffer.subarray(0, read)
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    closeSync(this.fd)
    if (this.path) rmSync(this.path, { force: true })
  }
}

/**
 * Reads `body` to its end into a temporary file, enforcing `limits` as it arrives. The file is unlinked as soon as it
 * is open, so it vanishes with its descriptor in every outcome, a crash included; on any failure it is closed here.
 */
export async function spoolBody(body: ReadableStream<Uint8Array>, limits: SpoolLimits): Promise<SpooledBody> {
  const path = join(limits.dir ?? tmpdir(), `rowpost-upload-${process.pid}-${++spools}-${crypto.randomUUID()}`)
  const fd = openSync(path, 'wx+', 0o600)
  let named: string | undefined
  try {
    rmSync(path)
  } catch {
    named = path
  }
  const spooled = new SpooledBody(fd, named)
  const reader = body.getReader()
  let windowStart = 0
  let tooSlow: UploadTooSlow | undefined
  const minimum = limits.minBytesPerSecond * limits.windowSeconds
  // One timer per upload checks each window as it closes, so a client that stalls outright is caught too. Cancelling
  // the reader ends a pending read (racing each read against a timeout promise would retain every chunk until it fired).
  const pace = setInterval(() => {
    const received = spooled.size - windowStart
    windowStart = spooled.size
    if (received >= minimum) return
    tooSlow = new UploadTooSlow(received, limits.windowSeconds, limits.minBytesPerSecond)
    reader.cancel().catch(() => {})
  }, limits.windowSeconds * 1000)
  let finished = false
  try {
    for (;;) {
      const { done, value } = await reader.read().catch(() => {
        // A body stream fails only when its connection does: the client went away (or was cut off) mid-upload.
        throw tooSlow ?? new ClientDisconnected()
      })
      if (tooSlow) throw tooSlow
      if (done) break
      if (limits.maxBytes !== undefined && spooled.size + value.byteLength > limits.maxBytes) throw new PayloadTooLarge(limits.maxBytes)
      limits.check?.(value)
      writeAll(fd, value)
      spooled.size += value.byteLength
    }
    finished = true
    return spooled
  } catch (error) {
    spooled.close()
    throw error
  } finally {
    clearInterval(pace)
    if (!finished) reader.cancel().catch(() => {})
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  try {
    for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset)
  } catch (error) {
    if (DISK_FULL.has((error as NodeJS.ErrnoException).code ?? '')) throw new StorageFull()
    throw error
  }
}
