/**
 * /-/openapi.json: valid OpenAPI 3.1 (@seriousme/openapi-schema-validator) that `@redocly/cli lint` passes, describing
 * every route; its request body examples are accepted by the server; and the TypeBox body schemas and the hand-written
 * validators (which keep Datasette's messages) accept and refuse the same generated bodies. /-/api renders it offline.
 */
import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import fc from 'fast-check'
import { parseAlterBody } from '../lib/alter'
import { parseExecuteWriteBody } from '../lib/execute-write'
import { parseJson, type JsonValue } from '../lib/json'
import { AlterBody, CreateBody, ExecuteWriteBody, insertBody, LegacyBody, UpdateBody } from '../lib/openapi/bodies'
import { undocumentedRoutes } from '../lib/openapi/document'
import { CONTENT_SECURITY_POLICY } from '../lib/pages/layout'
import { legacyRows } from '../lib/rows'
import type { TableInfo } from '../lib/store/table'
import { parseCreateBody, parseInsertBody, parseUpdateBody } from '../lib/write-api'
import { makeApp, tempDir } from './helpers'
import { invalid, openApiAjv, valid, type Schema } from './openapi-arbitraries'

type Document = { paths: Record<string, Record<string, Operation>> }
type Operation = { requestBody?: { content: Record<string, { schema: Schema; examples?: Record<string, { value: unknown }>; example?: string }> } }

async function documentOf(options: Parameters<typeof makeApp>[0] = { unsafe: true }) {
  const t = makeApp(options)
  const response = await t.get('/-/openapi.json')
  expect(response.status).toBe(200)
  return { t, document: (await response.json()) as Document }
}

/** The seeded app the examples are posted to: table docs (id, title) with row 1. */
function seededApp() {
  const t = makeApp({ unsafe: true })
  const file = new Database(t.path)
  file.run('CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT)')
  file.run("INSERT INTO docs VALUES (1, 'first')")
  file.close()
  return t
}

const PATH_VALUES: Record<string, string> = { database: 'data', table: 'docs', pks: '1' }
const concrete = (path: string) => path.replace(/\{(\w+)\}/g, (_, name: string) => PATH_VALUES[name]!) + (path.startsWith('/-/upsert/') ? '?pk=id' : '')

describe('the document', () => {
  test('is valid OpenAPI 3.1', async () => {
    const { document } = await documentOf()
    const result = await new Validator().validate(document as never)
    expect(result.errors).toBeUndefined()
    expect(result.valid).toBe(true)
    expect((document as unknown as { openapi: string }).openapi).toBe('3.1.0')
  })

  test('passes @redocly/cli lint with no errors or warnings', async () => {
    const { document } = await documentOf()
    const file = join(tempDir(), 'openapi.json')
    await Bun.write(file, JSON.stringify(document))
    const root = join(import.meta.dir, '..')
    const lint = Bun.spawn([join(root, 'node_modules/.bin/redocly'), 'lint', file, '--config', join(root, 'redocly.yaml'), '--format', 'stylish'], {
      stdout: 'pipe',
      stderr: 'pipe',
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    })
    const [out, err, code] = await Promise.all([new Response(lint.stdout).text(), new Response(lint.stderr).text(), lint.exited])
    expect({ code, problems: `${out}${err}`.split('\n').filter((line) => /^\s*\d+:\d+\s+(error|warning)\b/.test(line)) }).toEqual({ code: 0, problems: [] })
  }, 60_000)

  test('describes every route the app serves, with its summary', async () => {
    const { t, document } = await documentOf()
    expect(undocumentedRoutes(t.app.routes)).toEqual([])
    const operations = Object.values(document.paths).reduce((count, methods) => count + Object.keys(methods).length, 0)
    expect(operations).toBe(t.app.routes.length)
  })

  test('lists both error envelopes, the bearer and cookie schemes, and max_insert_rows from the settings', async () => {
    const { document } = await documentOf({ unsafe: true, settings: { max_insert_rows: 7 } })
    const text = JSON.stringify(document)
    const components = (
      document as unknown as { components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { scheme?: string; name?: string }> } }
    ).components
    expect(Object.keys(components.schemas)).toEqual(expect.arrayContaining(['LegacyError', 'DatasetteError']))
    expect(components.securitySchemes.bearer!.scheme).toBe('bearer')
    expect(components.securitySchemes.cookie!.name).toBe('ds_actor')
    expect(text).toContain('"maxItems":7')
    expect(document.paths['/-/insert/{database}/{table}']!.post!.requestBody!.content).toHaveProperty('text/csv')
  })

  test('answers 403 to an anonymous caller under --default-deny, as other instance routes do', async () => {
    const t = makeApp({ defaultDeny: true })
    for (const path of ['/-/openapi.json', '/-/api']) expect((await t.get(path)).status).toBe(403)
  })
})

describe('request body examples', () => {
  test('every example of every request body is accepted by the server', async () => {
    const { document } = await documentOf()
    let posted = 0
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) {
          const examples = media.examples ? Object.values(media.examples).map((example) => JSON.stringify(example.value)) : media.example ? [media.example] : []
          for (const body of examples) {
            const t = seededApp()
            const response = await t.request(method.toUpperCase(), concrete(path), body, { 'content-type': type })
            expect({ path, type, body, status: response.status, answer: response.status < 300 ? '' : await response.text() }).toEqual({
              path,
              type,
              body,
              status: expect.any(Number),
              answer: '',
            })
            posted++
          }
        }
      }
    }
    expect(posted).toBeGreaterThanOrEqual(20)
  })
})

/** Whether a validator accepts a body as the server would read it (JSON text through rowpost's own parser). */
function accepts(validate: (body: JsonValue) => unknown, body: unknown): boolean {
  try {
    validate(parseJson(JSON.stringify(body)))
    return true
  } catch {
    return false
  }
}

/** A table holding every column the body's rows name, so that only the body's shape decides. */
function tableFor(body: unknown): TableInfo {
  const rows =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? [(body as { row?: unknown }).row, ...((body as { rows?: unknown }).rows instanceof Array ? (body as { rows: unknown[] }).rows : [])]
      : []
  const names = new Set(rows.flatMap((row) => (typeof row === 'object' && row !== null ? Object.keys(row) : [])))
  const columns = [...names].map((name, cid) => ({ cid, name, type: '', notnull: false, defaultValue: null, pk: 0 }))
  return {
    name: 't',
    columns,
    pks: [],
    columnsByKey: new Map(columns.map((column) => [column.name.toLowerCase(), column])),
    withoutRowid: false,
    otherUniqueIndexes: false,
  } as unknown as TableInfo
}

function hasDuplicateColumns(body: unknown): boolean {
  const columns = (body as { columns?: unknown } | null)?.columns
  if (!Array.isArray(columns)) return false
  const names = columns.map((column) => String((column as { name?: unknown } | null)?.name).toLowerCase())
  return new Set(names).size !== names.length
}

const MAX_ROWS = 100
const AGREEMENT: Array<[string, Schema, (body: JsonValue) => unknown]> = [
  ['insert', insertBody(MAX_ROWS) as unknown as Schema, (body) => parseInsertBody(body, tableFor(body), { upsert: false, maxRows: MAX_ROWS })],
  ['update', UpdateBody as unknown as Schema, parseUpdateBody],
  ['alter', AlterBody as unknown as Schema, parseAlterBody],
  ['execute-write (no parameters)', { ...ExecuteWriteBody, properties: { sql: ExecuteWriteBody.properties.sql } } as unknown as Schema, parseExecuteWriteBody],
  ['legacy', LegacyBody as unknown as Schema, legacyRows],
  ['create', CreateBody as unknown as Schema, (body) => parseCreateBody(body, { require() {}, existing: () => undefined })],
]

describe('the body schemas and the hand-written validators agree', () => {
  const ajv = openApiAjv()
  for (const [name, schema, validate] of AGREEMENT) {
    test(`${name}: on 300 generated valid and 300 near-miss bodies`, () => {
      const check = ajv.compile(schema)
      const property = (body: unknown) => {
        // Column names that differ only in case are one column: the one rule of a body no JSON Schema can state.
        fc.pre(name !== 'create' || !hasDuplicateColumns(body))
        expect({ body, validator: accepts(validate, body) }).toEqual({ body, validator: check(body) })
      }
      fc.assert(fc.property(valid(schema), property), { numRuns: 300, seed: 13 })
      fc.assert(fc.property(invalid(schema), property), { numRuns: 300, seed: 13 })
    })
  }
})

describe('the reference page', () => {
  test('/-/api loads Swagger UI from this server under the pages CSP, pointed at /-/openapi.json', async () => {
    const t = makeApp({ unsafe: true })
    const page = await t.get('/-/api')
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY)
    const html = await page.text()
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!)
    expect(sources.every((source) => source.startsWith('/'))).toBe(true)
    expect(html).not.toMatch(/<script>|<style|style=/)
    for (const source of sources) expect({ source, status: (await t.get(source)).status }).toEqual({ source, status: 200 })
    const bundle = await (await t.get('/-/static/api/swagger-ui-bundle.js')).text()
    expect(bundle.length).toBeGreaterThan(500_000)
    expect(await (await t.get('/-/static/api/api.js')).text()).toContain("url: '/-/openapi.json'")
    expect((await t.get('/-/static/api/other.js')).status).toBe(404)
  })
})
