/**
 * Spec-driven fuzzing (issue 13 item 3): every operation of /-/openapi.json is sent requests generated from the
 * document itself (valid and near-miss bodies, parameter values, Authorization headers) against real rowpost
 * processes, one --unsafe and one with tokens; every answer must be documented: no 5xx, a documented status and
 * content type, and a JSON body that validates (ajv) against the documented schema. Bounded by PER_OPERATION.
 */
import { afterAll, expect, setDefaultTimeout, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import fc from 'fast-check'
import { tempDir } from './helpers'
import { invalid, openApiAjv, valid, type Schema } from './openapi-arbitraries'
import { killServersAfterEach, startServer } from './process'

setDefaultTimeout(300_000)
killServersAfterEach()
const PER_OPERATION = 24
type Media = { schema: Schema; example?: string }
type Operation = {
  parameters?: Array<{ name: string; in: string; schema: Schema }>
  requestBody?: { content: Record<string, Media> }
  responses: Record<string, { content?: Record<string, Media> }>
}
let requests = 0
let validated = 0
const statuses: Record<number, number> = {}
afterAll(() =>
  console.log(`fuzz-openapi: ${requests} requests, ${validated} JSON bodies validated against their schemas, statuses ${JSON.stringify(statuses)}`),
)

async function fuzz(args: string[], token: string | undefined) {
  const dir = tempDir()
  const file = join(dir, 'data.db')
  const db = new Database(file, { create: true })
  db.run('CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT)')
  db.run("INSERT INTO docs VALUES (1, 'first')")
  db.close()
  const server = await startServer([file, ...args])
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {}
  const document = (await (await fetch(`${server.url}/-/openapi.json`, { headers: auth })).json()) as Schema & {
    paths: Record<string, Record<string, Operation>>
  }
  const ajv = openApiAjv()
  ajv.addSchema(document as object, 'doc')
  const problems: unknown[] = []
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const bodies = Object.entries(operation.requestBody?.content ?? {})
      const samples = fc.sample(
        fc.record({
          params: fc.record(
            Object.fromEntries(
              (operation.parameters ?? [])
                .filter((p) => p.in !== 'header')
                .map((p) => [
                  p.name,
                  p.in === 'path'
                    ? fc.oneof(fc.constantFrom(...((p.schema.examples as string[]) ?? ['x'])), fc.string({ minLength: 1, maxLength: 6 }))
                    : fc.option(valid(p.schema).map(String), { nil: undefined }),
                ]),
            ),
          ),
          media: bodies.length ? fc.constantFrom(...bodies) : fc.constant(undefined),
          goodBody: fc.boolean(),
          authorization: fc.constantFrom<string | undefined>(auth.authorization, undefined, 'Bearer wrong', 'Basic x'),
        }),
        { numRuns: PER_OPERATION, seed: 13 },
      )
      for (const sample of samples) {
        let url = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String(sample.params[name])))
        const query = new URLSearchParams(
          Object.entries(sample.params).filter(([name, value]) => value !== undefined && !path.includes(`{${name}}`)) as [string, string][],
        )
        if ([...query].length) url += `?${query}`
        const headers: Record<string, string> = sample.authorization ? { authorization: sample.authorization } : {}
        let body: string | undefined
        if (sample.media) {
          const [type, media] = sample.media
          headers['content-type'] = type
          body =
            media.example ??
            (type.startsWith('application/json')
              ? JSON.stringify(fc.sample(sample.goodBody ? valid(media.schema, document) : invalid(media.schema, document), { numRuns: 1, seed: requests })[0])
              : 'token=x')
        }
        const response = await fetch(`${server.url}${url}`, { method: method.toUpperCase(), headers, body, redirect: 'manual' })
        requests++
        statuses[response.status] = (statuses[response.status] ?? 0) + 1
        const documented = operation.responses[String(response.status)]
        const type = (response.headers.get('content-type') ?? '').split(';')[0]!
        const where = { method, url, status: response.status, type }
        if (response.status >= 500 || !documented) {
          problems.push({ ...where, why: 'undocumented status', text: (await response.text()).slice(0, 200) })
          continue
        }
        if (!documented.content) {
          await response.body?.cancel()
          continue
        }
        const media = documented.content[type]
        if (!media) {
          problems.push({ ...where, why: 'undocumented content type' })
          await response.body?.cancel()
          continue
        }
        if (type === 'text/event-stream' || type === 'application/x-ndjson') {
          await response.body?.cancel()
          continue
        }
        const text = await response.text()
        if (type === 'application/json') {
          const check = ajv.compile({
            $ref: `doc#/paths/${path.replaceAll('~', '~0').replaceAll('/', '~1')}/${method}/responses/${response.status}/content/application~1json/schema`,
          })
          validated++
          if (!check(JSON.parse(text))) problems.push({ ...where, why: ajv.errorsText(check.errors), text: text.slice(0, 200) })
        }
      }
    }
  }
  await server.stop()
  return problems
}

test('every operation, --unsafe: every answer is documented', async () => {
  expect(await fuzz(['--unsafe'], undefined)).toEqual([])
})

test('every operation, with tokens: every answer is documented', async () => {
  const metadata = join(tempDir(), 'metadata.json')
  await Bun.write(
    metadata,
    JSON.stringify({
      permissions: { 'insert-row': { id: 'writer' } },
      plugins: { 'datasette-auth-tokens': { tokens: [{ token: 'writer-token', actor: { id: 'writer' } }] } },
    }),
  )
  expect(await fuzz(['-m', metadata], 'writer-token')).toEqual([])
})
