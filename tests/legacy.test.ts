import { describe, expect, test } from 'bun:test'
import { makeApp } from './helpers'

describe('legacy insert', () => {
  test('creates a table with ?pk=id and reports the row count', async () => {
    const t = makeApp({ unsafe: true })
    const response = await t.post('/-/insert/data/dogs?pk=id', [
      { id: 1, name: 'Cleopaws', age: 5 },
      { id: 2, name: 'Pancakes', age: 4 },
    ])
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ table_count: 2 })
    expect(t.rows('dogs')).toEqual([
      { id: 1, name: 'Cleopaws', age: 5 },
      { id: 2, name: 'Pancakes', age: 4 },
    ])
    expect(t.columns('dogs')).toEqual([['id', 'INTEGER'], ['name', 'TEXT'], ['age', 'INTEGER']])
  })
})
