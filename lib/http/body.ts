/** Reads request bodies under the size limit, refusing oversized ones before buffering them. */
import { InvalidJson, PayloadTooLarge } from '../errors'
import { parseJson, type JsonValue } from '../json'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The body as text: 413 from Content-Length alone when it is too big, or as soon as the stream passes the limit. */
export async function readBodyText(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > limit) throw new PayloadTooLarge(limit)
  if (!request.body) return ''
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
  try {
    return utf8.decode(Buffer.concat(chunks))
  } catch {
    throw new InvalidJson('the body is not valid UTF-8')
  }
}

export async function readJsonBody(request: Request, limit: number): Promise<JsonValue> {
  return parseJson(await readBodyText(request, limit))
}
