/** Datasette's validate_sql_select, rule for rule and message for message: what /-/query accepts before SQLite sees it. */
import { InvalidSql } from '../errors'

// Datasette's comment_re: leading white space, `--` comments up to a newline and `/* */` comments.
const COMMENTS = String.raw`^\s*((?:\-\-.*?\n\s*)|(?:\/\*((?!\*\/)[\s\S])*\*\/)|\s*)*\s*`
const ALLOWED = [
  String.raw`select\b`,
  String.raw`explain\s+select\b`,
  String.raw`explain\s+query\s+plan\s+select\b`,
  String.raw`with\b`,
  String.raw`explain\s+with\b`,
  String.raw`explain\s+query\s+plan\s+with\b`,
].map((pattern) => new RegExp(COMMENTS + pattern))

export const ALLOWED_PRAGMAS = [
  'database_list',
  'foreign_key_list',
  'function_list',
  'index_info',
  'index_list',
  'index_xinfo',
  'page_count',
  'max_page_count',
  'page_size',
  'schema_version',
  'table_info',
  'table_xinfo',
  'table_list',
] as const

// Anywhere in the text, strings included, as in Datasette: `select 'pragma'` is refused there too.
const DISALLOWED_PRAGMA = new RegExp(`pragma(?!_(${ALLOWED_PRAGMAS.join('|')}))`)
const PRAGMA_MESSAGE = `Statement contained a disallowed PRAGMA. Allowed pragma functions are ${ALLOWED_PRAGMAS.map((name) => `pragma_${name}()`).join(', ')}`

/** Throws InvalidSql with Datasette's message unless `sql` reads as a SELECT (or WITH, or EXPLAIN of one) without a disallowed pragma. */
export function validateSelect(sql: string): void {
  const text = sql
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n')
    .trim()
    .toLowerCase()
  if (!ALLOWED.some((pattern) => pattern.test(text))) throw new InvalidSql('Statement must be a SELECT')
  if (DISALLOWED_PRAGMA.test(text)) throw new InvalidSql(PRAGMA_MESSAGE)
}
