/**
 * fast-check arbitraries derived from the JSON schemas in rowpost's OpenAPI document: values a schema accepts (the
 * valid half, kept only when ajv agrees) and near misses (a wrong type, an unknown key, a missing required key).
 * fast-check rather than json-schema-faker: it is already a devDependency, it shrinks failures to a small body, and
 * the invalid half needs the same walk of the schema anyway.
 */
import Ajv2020 from 'ajv/dist/2020'
import fc from 'fast-check'

export type Schema = Record<string, unknown> & { $ref?: string }

/** ajv for OpenAPI 3.1 schemas: 2020-12, with OpenAPI's own keywords (`example`) tolerated. */
export function openApiAjv() {
  return new Ajv2020({ strict: false, allErrors: false, validateFormats: false })
}

const NAME = fc.stringMatching(/^[a-z][a-z0-9_]{0,7}$/)
const SCALAR = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.string({ maxLength: 12 }),
  fc.boolean(),
  fc.constant(null),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
)
const ANY_JSON: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  SCALAR,
  fc.array(SCALAR, { maxLength: 3 }),
  fc.dictionary(NAME, SCALAR, { maxKeys: 3 }),
)

/** Values for `schema`, resolving `$ref`s in `root`; most satisfy it (filter with ajv for certainty). */
export function valid(schema: Schema, root: Schema = schema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.$ref) return valid(resolve(schema.$ref, root), root, depth)
  if ('const' in schema) return fc.constant(schema.const)
  if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum)
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key] as Schema[] | undefined
    if (options) return fc.oneof(...options.map((option) => valid(option, root, depth)))
  }
  const examples = schema.examples as unknown[] | undefined
  switch (schema.type) {
    case 'null':
      return fc.constant(null)
    case 'boolean':
      return fc.boolean()
    case 'integer':
      return fc.integer({ min: -1_000_000, max: 1_000_000 })
    case 'number':
      return fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))
    case 'string': {
      const minLength = (schema.minLength as number | undefined) ?? 0
      const text = fc.string({ minLength, maxLength: minLength + 12 })
      return examples?.length ? fc.oneof(fc.constantFrom(...(examples as string[])), text) : text
    }
    case 'array': {
      const items = (schema.items as Schema | undefined) ?? {}
      return fc.array(depth > 3 ? ANY_JSON : valid(items, root, depth + 1), {
        minLength: (schema.minItems as number | undefined) ?? 0,
        maxLength: Math.min((schema.maxItems as number | undefined) ?? 4, 4),
      })
    }
    case 'object': {
      const properties = (schema.properties as Record<string, Schema> | undefined) ?? {}
      const required = new Set((schema.required as string[] | undefined) ?? [])
      const known = Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, valid(property, root, depth + 1)]))
      const fixed = fc.record(known, { requiredKeys: [...required] })
      if (schema.additionalProperties === false || schema.patternProperties) return fixed
      const extra = fc.dictionary(NAME, depth > 3 ? SCALAR : ANY_JSON, { maxKeys: 4 })
      return fc.tuple(fixed, extra).map(([a, b]) => ({ ...b, ...a }))
    }
  }
  return ANY_JSON
}

/** Near misses of `schema`: each breaks it in one way, so ajv refuses most of them (filter with ajv for certainty). */
export function invalid(schema: Schema, root: Schema = schema): fc.Arbitrary<unknown> {
  if (schema.$ref) return invalid(resolve(schema.$ref, root), root)
  const wrongType = fc.oneof(fc.constant(null), fc.constant(42), fc.constant('text'), fc.constant([]), fc.constant(true), fc.constant({}))
  const options = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined
  if (options) return fc.oneof(wrongType, ...options.map((option) => invalid(option, root)))
  if (schema.type !== 'object') return wrongType
  const properties = (schema.properties as Record<string, Schema> | undefined) ?? {}
  const names = Object.keys(properties)
  const base = valid(schema, root) as fc.Arbitrary<Record<string, unknown>>
  const mutations: fc.Arbitrary<unknown>[] = [wrongType, base.map((body) => ({ ...body, unknown_key: 1 }))]
  if (names.length) {
    mutations.push(fc.tuple(base, fc.constantFrom(...names), wrongType).map(([body, name, value]) => ({ ...body, [name]: value })))
    mutations.push(
      fc
        .tuple(base, fc.constantFrom(...names), fc.constantFrom(...names))
        .chain(([body, name, other]) => invalid(properties[name]!, root).map((value) => ({ ...body, [name]: value, [other]: body[other] }))),
    )
    const required = (schema.required as string[] | undefined) ?? []
    if (required.length)
      mutations.push(
        fc.tuple(base, fc.constantFrom(...required)).map(([body, name]) => Object.fromEntries(Object.entries(body).filter(([key]) => key !== name))),
      )
  }
  return fc.oneof(...mutations)
}

function resolve(ref: string, root: Schema): Schema {
  let node: unknown = root
  for (const part of ref.replace(/^#\//, '').split('/')) node = (node as Record<string, unknown>)[part.replaceAll('~1', '/').replaceAll('~0', '~')]
  if (node === undefined) throw new Error(`unresolved $ref ${ref}`)
  return node as Schema
}
