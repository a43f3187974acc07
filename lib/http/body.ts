/** Reads request bodies under the size limit, refusing oversized ones before buffering them. */
import { InvalidJson, PayloadTooLarge } from '../errors'
import { parseJson, type JsonValue } from '../json'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The body as text: 413 from Content-Length alone when it is too big, or as soon as the stream passes the limit. */
export async function readBodyText(request: Request, limit: number): Promise<string> {
  const length = request.headers.get('content-length')
  const declared = length === null ? NaN : Number(length)
  if (Number.isFinite(declared) && declared > limit) throw new PayloadTooLarge(limit)
  if (!request.body) return ''
  // With a Content-Length within the limit, the server reads exactly that many bytes: no need to count chunks.
  if (Number.isFinite(declared)) {
    const bytes = new Uint8Array(await request.arrayBuffer())
    // A socket stops at Content-Length, but a Request built in-process can carry more than it declares.
    if (bytes.byteLength > limit) throw new PayloadTooLarge(limit)
    return decode(bytes)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = request.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => {})
      throw new PayloadTooLarge(limit)
    }
    chunks.push(value)
  }
  return decode(Buffer.concat(chunks))
}

function decode(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw new InvalidJson('the body is not valid UTF-8')
  }
}

export async function readJsonBody(request: Request, limit: number): Promise<JsonValue> {
  return parseJson(await readBodyText(request, limit))
}
